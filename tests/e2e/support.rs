//! Helpers shared by the end-to-end tests.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};

/// The built `heaplens` binary.
#[allow(dead_code)]
pub fn heaplens_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_heaplens"))
}

/// A file under the repository's `tests/fixtures/`.
#[allow(dead_code)]
pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(rel)
}

/// `heaplens sim` in the background (one simulated board for several commands); killed on
/// drop.
pub struct SimProcess {
    child: Child,
    /// The pty path it printed.
    pub path: String,
}

#[allow(dead_code)]
impl SimProcess {
    /// `heaplens sim` with its defaults.
    pub fn start() -> SimProcess {
        SimProcess::start_with(None, None)
    }

    /// `heaplens sim [--link LINK] [--heap BYTES]`.
    pub fn start_with(link: Option<&Path>, heap: Option<u32>) -> SimProcess {
        let mut cmd = Command::new(heaplens_bin());
        cmd.arg("sim");
        if let Some(link) = link {
            cmd.arg("--link").arg(link);
        }
        if let Some(bytes) = heap {
            cmd.args(["--heap", &bytes.to_string()]);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn heaplens sim");
        let stdout = child.stdout.take().expect("sim stdout");
        let mut path = String::new();
        BufReader::new(stdout)
            .read_line(&mut path)
            .expect("sim prints its pty path");
        let path = path.trim().to_string();
        assert!(path.starts_with("/dev/"), "pty path: {path:?}");
        SimProcess { child, path }
    }

    /// `heaplens exec --board PATH CODE`: its output (`\n` line endings); panics on failure.
    pub fn exec(&self, code: &str) -> String {
        let out = Command::new(heaplens_bin())
            .args(["exec", "--board", &self.path, code])
            .output()
            .expect("spawn heaplens exec");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n")
    }

    /// Stops it with SIGTERM (as a terminal's Ctrl-C or a service manager would).
    pub fn stop(mut self) -> ExitStatus {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        self.child.wait().expect("wait heaplens sim")
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
