//! Structured logs (`tracing`) on stderr, for the CLI and the language server (whose stderr
//! the editor shows in its output channel). The level comes from `HEAPLENS_LOG` (an
//! `env_logger`-style filter such as `debug` or `heaplens::board=trace`), else the server's
//! `heaplens.trace.server` setting, else `warn`. At `trace` every raw-REPL exchange is logged.

use std::sync::OnceLock;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, reload, EnvFilter, Registry};

/// The environment variable that sets the log filter.
pub const ENV: &str = "HEAPLENS_LOG";

static RELOAD: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();

/// Installs the stderr logger once per process (later calls do nothing).
pub fn init() {
    if RELOAD.get().is_some() {
        return;
    }
    let filter = EnvFilter::try_from_env(ENV).unwrap_or_else(|_| EnvFilter::new("warn"));
    let (filter, handle) = reload::Layer::new(filter);
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(
            fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(false)
                .with_target(true),
        )
        .try_init()
        .is_ok();
    if installed {
        let _ = RELOAD.set(handle);
    }
}

/// Changes the level (`off`, `error`, …, `trace`) unless `HEAPLENS_LOG` fixed it.
pub fn set_level(directive: &str) {
    if std::env::var_os(ENV).is_some() {
        return;
    }
    if let (Some(handle), Ok(filter)) = (RELOAD.get(), EnvFilter::try_new(directive)) {
        let _ = handle.reload(filter);
    }
}
