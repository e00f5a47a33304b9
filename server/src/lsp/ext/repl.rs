//! The REPL terminal's messages: `heaplens/replState`, `heaplens/replOutput`,
//! `heaplens/replInput` and `heaplens.closeRepl`'s result.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tower_lsp_server::ls_types::notification::Notification;

/// `heaplens.closeRepl` result.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CloseReplResult {
    /// False when no REPL was open.
    pub closed: bool,
}

/// Whether the REPL terminal has the board.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ReplState {
    /// The board's friendly REPL is the terminal's: keys go to the board.
    Attached,
    /// HeapLens is running something on the board; the REPL comes back when it ends.
    Released,
    /// The REPL ended (closed, or the board went away: `message` says why).
    Closed,
}

/// `heaplens/replState` params.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplStateParams {
    pub state: ReplState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Server → client: the REPL terminal's hold on the board changed.
pub enum ReplStateNotification {}
impl Notification for ReplStateNotification {
    type Params = ReplStateParams;
    const METHOD: &'static str = "heaplens/replState";
}

/// `heaplens/replOutput` and `heaplens/replInput` params: bytes of the REPL's conversation
/// (non-UTF-8 output bytes replaced with U+FFFD).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplTextParams {
    pub text: String,
}

/// Server → client: what the board's REPL printed.
pub enum ReplOutputNotification {}
impl Notification for ReplOutputNotification {
    type Params = ReplTextParams;
    const METHOD: &'static str = "heaplens/replOutput";
}

/// Client → server: keys typed in the REPL terminal (sent to the board while it is attached).
pub enum ReplInputNotification {}
impl Notification for ReplInputNotification {
    type Params = ReplTextParams;
    const METHOD: &'static str = "heaplens/replInput";
}
