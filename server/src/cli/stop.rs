//! Ctrl-C and SIGTERM for long-running commands: they cancel a token instead of killing the
//! process, so the board is interrupted cleanly (and a run still prints its report).

use crate::board::CancelToken;

/// A token cancelled by the first Ctrl-C or SIGTERM. Call once per process.
pub fn stop_token() -> CancelToken {
    let token = CancelToken::new();
    let handler_token = token.clone();
    // If a handler is already installed (not the case for a CLI invocation), the process keeps
    // the default behaviour: Ctrl-C ends it.
    let _ = ctrlc::set_handler(move || handler_token.cancel());
    token
}
