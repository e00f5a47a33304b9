//! The LSP base protocol (`Content-Length` framing) in front of tower-lsp, so that no byte a
//! client sends can end the server.
//!
//! tower-lsp-server's reader stops at the first message it cannot decode (bad JSON, a body that
//! is not UTF-8, a bad header): it answers one error and then its input stream ends, and with it
//! the server. It has no option to keep reading. So the server reads stdin here instead:
//! [`FrameReader`] cuts the byte stream into frames and recovers after a bad one (it looks for
//! the next `Content-Length:`), [`check_message`] accepts only bodies tower-lsp will decode, and
//! [`serve`] answers every rejected frame itself with the JSON-RPC error (`-32700` parse error,
//! `-32600` invalid request) while tower-lsp sees only well-formed messages.
//!
//! Invariants: a frame is forwarded only if tower-lsp decodes it; memory is bounded by
//! [`MAX_HEADER_BYTES`] and [`MAX_BODY_BYTES`] whatever the input (an oversized body is skipped
//! as it arrives, never buffered); replies from tower-lsp and from here reach stdout as whole
//! frames, never interleaved.
//!
//! A request (a message with an `id`) to a method that is a notification (`initialized`,
//! `textDocument/didOpen`, …, [`NOTIFICATION_METHODS`]) is answered here with `-32600` and not
//! delivered: tower-lsp would run the notification and never answer, so the client would wait
//! for a reply forever; and a message the server calls invalid must not change its state
//! either (a `didOpen` with an id opens nothing).
//!
//! Must not know: the server's state, or any method beyond which ones are notifications.

use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

/// Longest header block accepted (real clients send one or two short lines).
pub(crate) const MAX_HEADER_BYTES: usize = 8 * 1024;
/// Largest message body accepted: room for a 64 MiB dump document (`MAX_DUMP_BYTES`) escaped
/// as JSON, and no more.
pub(crate) const MAX_BODY_BYTES: usize = 160 * 1024 * 1024;

/// JSON-RPC's "Parse error": the body is not JSON (or not UTF-8, or the frame is unreadable).
pub(crate) const PARSE_ERROR: i64 = -32700;
/// JSON-RPC's "Invalid Request": JSON, but not a request, notification or response.
pub(crate) const INVALID_REQUEST: i64 = -32600;

/// Why a frame was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FrameError {
    #[error("unreadable message header: {0}")]
    BadHeader(String),
    #[error("message header without Content-Length")]
    MissingContentLength,
    #[error("bad Content-Length `{0}`")]
    BadContentLength(String),
    #[error(
        "message of {0} bytes is larger than the {MAX_BODY_BYTES} bytes HeapLens accepts; skipped"
    )]
    TooLarge(u64),
}

impl FrameError {
    /// The JSON-RPC error code the reply carries.
    pub(crate) fn code(&self) -> i64 {
        match self {
            FrameError::TooLarge(_) => INVALID_REQUEST,
            _ => PARSE_ERROR,
        }
    }
}

/// One unit cut out of the input stream.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame {
    /// A body, exactly as long as its `Content-Length` said.
    Body(Vec<u8>),
    /// A frame that could not be read; the reader has moved past it.
    Error(FrameError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadState {
    /// Reading a header block.
    Header,
    /// Waiting for a body of this many bytes.
    Body(usize),
    /// Dropping this many more bytes of an oversized body.
    Skip(u64),
    /// After an unreadable header: dropping bytes up to the next `Content-Length:`.
    Resync,
}

/// Cuts a byte stream into LSP frames. Pure: bytes in with [`FrameReader::push`], frames out
/// with [`FrameReader::next_frame`].
#[derive(Debug)]
pub(crate) struct FrameReader {
    buffer: Vec<u8>,
    state: ReadState,
}

impl Default for FrameReader {
    fn default() -> Self {
        FrameReader {
            buffer: Vec::new(),
            state: ReadState::Header,
        }
    }
}

const CONTENT_LENGTH: &[u8] = b"content-length:";

impl FrameReader {
    /// Adds bytes read from the stream. Bytes of an oversized body are dropped here, so they
    /// never take memory.
    pub(crate) fn push(&mut self, mut bytes: &[u8]) {
        if let ReadState::Skip(left) = self.state {
            debug_assert!(self.buffer.is_empty());
            let dropped = (left.min(bytes.len() as u64)) as usize;
            bytes = &bytes[dropped..];
            let left = left - dropped as u64;
            self.state = if left == 0 {
                ReadState::Header
            } else {
                ReadState::Skip(left)
            };
        }
        self.buffer.extend_from_slice(bytes);
    }

    /// Bytes held (for tests: memory stays bounded).
    #[cfg(test)]
    pub(crate) fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// The next complete frame, or `None` until more bytes arrive.
    pub(crate) fn next_frame(&mut self) -> Option<Frame> {
        loop {
            match self.state {
                ReadState::Skip(_) => return None,
                ReadState::Body(length) => {
                    if self.buffer.len() < length {
                        return None;
                    }
                    let rest = self.buffer.split_off(length);
                    let body = std::mem::replace(&mut self.buffer, rest);
                    self.state = ReadState::Header;
                    return Some(Frame::Body(body));
                }
                ReadState::Resync => {
                    match find_ignoring_case(&self.buffer, CONTENT_LENGTH) {
                        Some(at) => {
                            self.buffer.drain(..at);
                            self.state = ReadState::Header;
                        }
                        None => {
                            // Keep a tail that may be the start of a split `Content-Length:`.
                            let keep = CONTENT_LENGTH.len() - 1;
                            let cut = self.buffer.len().saturating_sub(keep);
                            self.buffer.drain(..cut);
                            return None;
                        }
                    }
                }
                ReadState::Header => {
                    // Blank lines between messages are harmless: skip them.
                    let blank = self
                        .buffer
                        .iter()
                        .take_while(|b| matches!(b, b'\r' | b'\n'))
                        .count();
                    self.buffer.drain(..blank);
                    let Some((end, after)) = header_end(&self.buffer) else {
                        if self.buffer.len() > MAX_HEADER_BYTES {
                            self.buffer.drain(..1);
                            self.state = ReadState::Resync;
                            return Some(Frame::Error(FrameError::BadHeader(format!(
                                "no end of header within {MAX_HEADER_BYTES} bytes"
                            ))));
                        }
                        return None;
                    };
                    let parsed = parse_header(&self.buffer[..end]);
                    self.buffer.drain(..after);
                    match parsed {
                        Ok(length) if length > MAX_BODY_BYTES as u64 => {
                            let held = (self.buffer.len() as u64).min(length);
                            self.buffer.drain(..held as usize);
                            let left = length - held;
                            self.state = if left == 0 {
                                ReadState::Header
                            } else {
                                ReadState::Skip(left)
                            };
                            return Some(Frame::Error(FrameError::TooLarge(length)));
                        }
                        Ok(length) => self.state = ReadState::Body(length as usize),
                        Err(error) => {
                            self.state = ReadState::Resync;
                            return Some(Frame::Error(error));
                        }
                    }
                }
            }
        }
    }
}

/// Where the header block ends (`\r\n\r\n` or `\n\n`): the end of its last line and the start
/// of the body.
fn header_end(buffer: &[u8]) -> Option<(usize, usize)> {
    let crlf = memchr::memmem::find(buffer, b"\r\n\r\n").map(|at| (at, at + 4));
    let lf = memchr::memmem::find(buffer, b"\n\n").map(|at| (at, at + 2));
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// The `Content-Length` of a header block (other headers, such as `Content-Type`, are ignored).
fn parse_header(block: &[u8]) -> Result<u64, FrameError> {
    let text = std::str::from_utf8(block)
        .map_err(|_| FrameError::BadHeader("the header is not ASCII".into()))?;
    let mut length = None;
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let Some((name, value)) = line.split_once(':') else {
            return Err(FrameError::BadHeader(format!(
                "`{}` is not a `Name: value` line",
                shorten(line)
            )));
        };
        if name.trim().eq_ignore_ascii_case("content-length") {
            let value = value.trim();
            let parsed: u64 = value
                .parse()
                .map_err(|_| FrameError::BadContentLength(shorten(value)))?;
            if length.is_some_and(|l| l != parsed) {
                return Err(FrameError::BadHeader(
                    "two different Content-Lengths".into(),
                ));
            }
            length = Some(parsed);
        }
    }
    length.ok_or(FrameError::MissingContentLength)
}

/// At most 60 characters of `text`, for error messages.
fn shorten(text: &str) -> String {
    let mut short: String = text.chars().take(60).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}

fn find_ignoring_case(haystack: &[u8], lower_needle: &[u8]) -> Option<usize> {
    haystack
        .windows(lower_needle.len())
        .position(|w| w.eq_ignore_ascii_case(lower_needle))
}

/// The client-to-server notifications the server accepts (LSP's, tower-lsp routes them without
/// an answer, and HeapLens's own): a message with an `id` to one of them is invalid.
pub(crate) const NOTIFICATION_METHODS: &[&str] = &[
    "initialized",
    "exit",
    "$/cancelRequest",
    "$/setTrace",
    "$/progress",
    "textDocument/didOpen",
    "textDocument/didChange",
    "textDocument/willSave",
    "textDocument/didSave",
    "textDocument/didClose",
    "notebookDocument/didOpen",
    "notebookDocument/didChange",
    "notebookDocument/didSave",
    "notebookDocument/didClose",
    "workspace/didChangeConfiguration",
    "workspace/didChangeWorkspaceFolders",
    "workspace/didChangeWatchedFiles",
    "workspace/didCreateFiles",
    "workspace/didRenameFiles",
    "workspace/didDeleteFiles",
    "window/workDoneProgress/cancel",
    "heaplens/replInput",
];

/// A JSON-RPC error response (`id` null when the message's id is unknown).
pub(crate) fn error_reply(id: Value, code: i64, message: &str) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } })
}

/// Accepts a body that tower-lsp decodes as a request, notification or response; otherwise the
/// error reply to send back (with the message's id when it has a usable one).
pub(crate) fn check_message(body: &[u8]) -> Result<(), Value> {
    let text = std::str::from_utf8(body).map_err(|e| {
        error_reply(
            Value::Null,
            PARSE_ERROR,
            &format!(
                "Parse error: the message is not UTF-8 (bad byte at {})",
                e.valid_up_to()
            ),
        )
    })?;
    let value: Value = serde_json::from_str(text).map_err(|e| {
        error_reply(
            Value::Null,
            PARSE_ERROR,
            &format!("Parse error: the message is not JSON: {e}"),
        )
    })?;
    let Value::Object(object) = &value else {
        return Err(error_reply(
            Value::Null,
            INVALID_REQUEST,
            "Invalid request: a message must be a JSON object (LSP has no batches)",
        ));
    };
    let id = match object.get("id") {
        Some(id @ (Value::String(_) | Value::Number(_))) if id.is_string() || id.is_i64() => {
            id.clone()
        }
        _ => Value::Null,
    };
    let invalid = |why: &str| {
        error_reply(
            id.clone(),
            INVALID_REQUEST,
            &format!("Invalid request: {why}"),
        )
    };
    if object.get("jsonrpc") != Some(&json!("2.0")) {
        return Err(invalid("`jsonrpc` must be \"2.0\""));
    }
    let is_request = object.get("method").is_some_and(Value::is_string);
    let is_response = object.contains_key("id")
        && (object.contains_key("result") || object.contains_key("error"));
    if !is_request && !is_response {
        return Err(invalid(
            "neither a request (a `method`) nor a response (`id` with `result` or `error`)",
        ));
    }
    if let (Some(Value::String(method)), true) = (object.get("method"), object.contains_key("id")) {
        if NOTIFICATION_METHODS.contains(&method.as_str()) {
            return Err(invalid(&format!(
                "`{method}` is a notification: send it without an `id` (it was not delivered)"
            )));
        }
    }
    let decodes = if is_request {
        serde_json::from_value::<tower_lsp_server::jsonrpc::Request>(value.clone())
            .map(drop)
            .map_err(|e| e.to_string())
    } else {
        serde_json::from_value::<tower_lsp_server::jsonrpc::Response>(value.clone())
            .map(drop)
            .map_err(|e| e.to_string())
    };
    decodes.map_err(|e| invalid(&e))
}

/// A frame with its `Content-Length` header.
pub(crate) fn frame(body: &[u8]) -> Vec<u8> {
    let mut framed = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    framed.extend_from_slice(body);
    framed
}

/// What the reading side saw when it stopped.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum InputEnd {
    /// The client closed its end (stdin reached end of file, or failed).
    Closed,
    /// The server stopped reading first (it exited).
    ServerGone,
}

/// Reads `input`, forwards every acceptable message to `to_server` (re-framed) and sends the
/// error reply of every other frame to `replies`. Returns when the input ends or the server
/// stops reading.
pub(crate) async fn pump_input(
    mut input: impl AsyncRead + Unpin,
    mut to_server: impl AsyncWrite + Unpin,
    replies: mpsc::UnboundedSender<Vec<u8>>,
) -> InputEnd {
    let mut reader = FrameReader::default();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let read = match input.read(&mut chunk).await {
            Ok(0) | Err(_) => return InputEnd::Closed,
            Ok(n) => n,
        };
        reader.push(&chunk[..read]);
        while let Some(frame) = reader.next_frame() {
            let rejected = match frame {
                Frame::Body(body) => match check_message(&body) {
                    Ok(()) => {
                        if to_server.write_all(&self::frame(&body)).await.is_err()
                            || to_server.flush().await.is_err()
                        {
                            return InputEnd::ServerGone;
                        }
                        continue;
                    }
                    Err(reply) => reply,
                },
                Frame::Error(error) => {
                    error_reply(Value::Null, error.code(), &format!("Parse error: {error}"))
                }
            };
            tracing::warn!(%rejected, "rejected a malformed message");
            let _ = replies.send(rejected.to_string().into_bytes());
        }
    }
}

/// Cuts the server's own output into frames and passes each body on.
pub(crate) async fn pump_output(
    mut from_server: impl AsyncRead + Unpin,
    bodies: mpsc::UnboundedSender<Vec<u8>>,
) {
    let mut reader = FrameReader::default();
    let mut chunk = vec![0u8; 64 * 1024];
    while let Ok(read) = from_server.read(&mut chunk).await {
        if read == 0 {
            return;
        }
        reader.push(&chunk[..read]);
        while let Some(frame) = reader.next_frame() {
            match frame {
                Frame::Body(body) => {
                    let _ = bodies.send(body);
                }
                Frame::Error(error) => tracing::error!(%error, "the server wrote a bad frame"),
            }
        }
    }
}

/// Writes each body as one whole frame, in the order received, until every sender is gone.
pub(crate) async fn write_frames(
    mut output: impl AsyncWrite + Unpin,
    mut bodies: mpsc::UnboundedReceiver<Vec<u8>>,
) {
    while let Some(body) = bodies.recv().await {
        if output.write_all(&frame(&body)).await.is_err() || output.flush().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests;
