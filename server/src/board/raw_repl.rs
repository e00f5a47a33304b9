//! The raw REPL protocol (MicroPython's `shared/runtime/pyexec.c`; `docs/reference/repl.rst`) over any `Transport`: enter raw mode, execute with
//! raw-paste flow control or plain raw mode, follow output and traceback, soft reset,
//! interrupt, leave raw mode. Knows bytes and the protocol; nothing about heaps.
//!
//! Invariant between operations: when `in_raw` is true the board sits at the raw prompt `>`
//! and that `>` has been consumed.

use std::time::{Duration, Instant};

use super::transport::Transport;
use super::{CancelToken, LinkError, LinkOptions};

/// The raw REPL banner (the `>` prompt follows it).
pub const RAW_BANNER: &[u8] = b"raw REPL; CTRL-B to exit\r\n";

/// What a piece of code did on the board.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOutcome {
    /// Everything the code printed (before the first `\x04`), byte for byte.
    pub stdout: Vec<u8>,
    /// The uncaught exception's traceback (between the two `\x04`s), if any.
    pub traceback: Option<String>,
}

/// One open raw-REPL conversation over a transport.
pub struct RawRepl {
    transport: Box<dyn Transport>,
    opts: LinkOptions,
    /// Bytes read from the board but not consumed yet.
    pending: Vec<u8>,
    /// At the raw prompt (see the module invariant).
    in_raw: bool,
    /// Raw-paste support, learned on first use and remembered for this connection.
    raw_paste: Option<bool>,
    port: String,
}

impl RawRepl {
    /// Wraps a transport; does not talk to the board yet.
    pub fn new(transport: Box<dyn Transport>, opts: LinkOptions) -> RawRepl {
        let port = transport.name().to_string();
        RawRepl {
            transport,
            raw_paste: if opts.use_raw_paste {
                None
            } else {
                Some(false)
            },
            opts,
            pending: Vec::new(),
            in_raw: false,
            port,
        }
    }

    /// Whether raw-paste was found to work (None: not tried yet).
    #[cfg(test)]
    pub fn raw_paste_supported(&self) -> Option<bool> {
        self.raw_paste
    }

    /// True when the board is known to sit at the raw prompt.
    pub fn in_raw(&self) -> bool {
        self.in_raw
    }

    /// Interrupts whatever runs and enters the raw REPL (no soft reset).
    pub fn enter_raw(&mut self, cancel: &CancelToken) -> Result<(), LinkError> {
        self.in_raw = false;
        // Ctrl-C stops a running program; on a Pico it also discards bytes queued behind it,
        // so if the `\r\x01` is lost we try once more after a short wait (as mpremote does).
        let first_wait = self.opts.response_timeout.min(Duration::from_secs(1));
        let mut attempts = 0;
        loop {
            attempts += 1;
            self.write(b"\r\x03")?;
            self.drain_available()?;
            self.write(b"\r\x01")?;
            let wait = if attempts == 1 {
                first_wait
            } else {
                self.opts.response_timeout
            };
            match self.read_until(RAW_BANNER, wait, cancel, "the raw REPL banner") {
                Ok(_) => break,
                Err(LinkError::Timeout { .. }) if attempts == 1 => continue,
                Err(err) => return Err(err),
            }
        }
        self.read_until(b">", self.opts.response_timeout, cancel, "the raw prompt")?;
        self.in_raw = true;
        Ok(())
    }

    /// Soft-resets the board from the raw REPL (empty `\x04`): fresh heap, still in raw mode.
    pub fn soft_reset(&mut self, cancel: &CancelToken) -> Result<(), LinkError> {
        if !self.in_raw {
            self.enter_raw(cancel)?;
        }
        self.in_raw = false;
        self.write(b"\x04")?;
        let t = self.opts.reset_timeout;
        self.read_until(b"soft reboot\r\n", t, cancel, "`soft reboot`")?;
        self.read_until(RAW_BANNER, t, cancel, "the raw REPL banner after reset")?;
        self.read_until(b">", t, cancel, "the raw prompt after reset")?;
        self.in_raw = true;
        Ok(())
    }

    /// Runs `code`, streaming stdout to `on_output` as it arrives. A cancel sends Ctrl-C and
    /// waits up to `interrupt_deadline` for the KeyboardInterrupt traceback.
    pub fn exec(
        &mut self,
        code: &[u8],
        on_output: &mut dyn FnMut(&[u8]),
        cancel: &CancelToken,
    ) -> Result<ExecOutcome, LinkError> {
        if !self.in_raw {
            self.enter_raw(cancel)?;
        }
        // From here until the final `>` the board is not at the prompt.
        self.in_raw = false;
        // Anything left over (a late second banner, stray output) is not part of this exec.
        self.pending.clear();
        self.drain_available()?;
        let mut sent = false;
        if self.raw_paste != Some(false) {
            sent = self.try_raw_paste(code, cancel)?;
        }
        if !sent {
            self.plain_raw_send(code, cancel)?;
        }
        self.follow(
            &mut |bytes| {
                on_output(bytes);
                None
            },
            cancel,
            None,
        )
    }

    /// Like [`RawRepl::exec`], for code whose output may contain `\x04` bytes of its own (a
    /// user's script under a harness): the end of its output is recognised by position, as
    /// the `\x04` that follows the line holding `framing.done` (unforgeable: it carries a
    /// random part). Every other byte, `\x04` included, is output. Before `framing.start`
    /// (the code's first line of its own) nothing but the code can have printed, so a
    /// `\x04` there is the protocol's (the code failed before it began).
    ///
    /// A cancel sends Ctrl-C only when `framing.interrupt` says the code may take it
    /// ([`Interruptible`]); at most one is sent.
    ///
    /// `on_output` may return bytes to send to the board's stdin at once (a line the code
    /// asked for).
    pub fn exec_framed(
        &mut self,
        code: &[u8],
        framing: &Framing<'_>,
        on_output: &mut dyn FnMut(&[u8]) -> Option<Vec<u8>>,
        cancel: &CancelToken,
    ) -> Result<ExecOutcome, LinkError> {
        // Sending is a short exchange that a Stop must not cut in half (the board would be
        // left in the middle of a paste): a cancel acts once the code runs.
        let sending = CancelToken::new();
        if !self.in_raw {
            self.enter_raw(&sending)?;
        }
        self.in_raw = false;
        self.pending.clear();
        self.drain_available()?;
        let mut sent = false;
        if self.raw_paste != Some(false) {
            sent = self.try_raw_paste(code, &sending)?;
        }
        if !sent {
            self.plain_raw_send(code, &sending)?;
        }
        self.follow(on_output, cancel, Some(framing))
    }

    /// Hands the board to a person: leaves raw mode for the friendly REPL (Ctrl-B: the board
    /// prints its banner and `>>> `). Until the next exec, which enters raw mode again, the
    /// conversation is theirs: [`RawRepl::passthrough_read`] and [`RawRepl::passthrough_write`].
    pub fn enter_friendly(&mut self) -> Result<(), LinkError> {
        self.in_raw = false;
        self.pending.clear();
        self.write(b"\r\x02")?;
        self.transport.flush()
    }

    /// What the board printed since the last call, waiting at most `timeout` for it.
    pub fn passthrough_read(&mut self, timeout: Duration) -> Result<Vec<u8>, LinkError> {
        if self.pending.is_empty() {
            self.fill(timeout)?;
        }
        Ok(std::mem::take(&mut self.pending))
    }

    /// Sends a person's keys to the board as they are.
    pub fn passthrough_write(&mut self, data: &[u8]) -> Result<(), LinkError> {
        self.in_raw = false;
        self.write(data)?;
        self.transport.flush()
    }

    /// Leaves raw mode (Ctrl-B) so other tools find the friendly REPL. Best effort.
    pub fn leave_raw(&mut self) -> Result<(), LinkError> {
        self.in_raw = false;
        self.write(b"\x02")?;
        self.transport.flush()
    }

    /// Tries raw-paste. Ok(true): code sent; Ok(false): not supported (remembered), still at
    /// the raw prompt.
    fn try_raw_paste(&mut self, code: &[u8], cancel: &CancelToken) -> Result<bool, LinkError> {
        let t = self.opts.response_timeout;
        self.write(b"\x05A\x01")?;
        let reply = self.read_exact(2, t, cancel, "the raw-paste reply")?;
        match reply.as_slice() {
            b"R\x01" => {}
            b"R\x00" => {
                self.raw_paste = Some(false);
                return Ok(false);
            }
            _ => {
                // Firmware before v1.14 restarts the raw REPL instead (`ra` + the rest).
                self.raw_paste = Some(false);
                self.read_until(b"w REPL; CTRL-B to exit\r\n>", t, cancel, "the raw banner")?;
                return Ok(false);
            }
        }
        self.raw_paste = Some(true);
        let window_bytes = self.read_exact(2, t, cancel, "the raw-paste window size")?;
        let window = usize::from(u16::from_le_bytes([window_bytes[0], window_bytes[1]]));
        if window == 0 {
            return Err(self.protocol("starting raw-paste", &window_bytes));
        }
        let mut remaining = window;
        let mut offset = 0;
        while offset < code.len() {
            // Take every grant already here, and block for one when the window is used up.
            while remaining == 0 || self.byte_available()? {
                let byte = self.read_exact(1, t, cancel, "a raw-paste window grant")?;
                match byte[0] {
                    0x01 => remaining += window,
                    0x04 => {
                        // The board stops early (syntax error or Ctrl-C): acknowledge.
                        self.write(b"\x04")?;
                        return Ok(true);
                    }
                    _ => return Err(self.protocol("sending code in raw-paste mode", &byte)),
                }
            }
            let end = code.len().min(offset + remaining);
            self.write(&code[offset..end])?;
            remaining -= end - offset;
            offset = end;
        }
        self.write(b"\x04")?;
        self.read_until(b"\x04", t, cancel, "the end of raw-paste")?;
        Ok(true)
    }

    /// Plain raw mode: paced chunks, `\x04`, then `OK`.
    fn plain_raw_send(&mut self, code: &[u8], cancel: &CancelToken) -> Result<(), LinkError> {
        let chunk = self.opts.plain_chunk_bytes.max(1);
        for (index, piece) in code.chunks(chunk).enumerate() {
            if index > 0 {
                // The Pico's stdin ring holds 512 bytes; pace like mpremote (`MICROPY_HW_STDIN_BUFFER_LEN`).
                std::thread::sleep(self.opts.plain_chunk_delay);
            }
            if cancel.is_cancelled() {
                self.write(b"\x03")?;
                return Err(LinkError::Cancelled);
            }
            self.write(piece)?;
        }
        self.write(b"\x04")?;
        let reply = self.read_exact(2, self.opts.response_timeout, cancel, "`OK`")?;
        if reply != b"OK" {
            return Err(self.protocol("waiting for `OK`", &reply));
        }
        Ok(())
    }

    /// Reads stdout until `\x04`, the traceback until `\x04`, then the `>` prompt. With a
    /// framing (see [`RawRepl::exec_framed`]), only the `\x04` after its `done` line (or
    /// before its `start`) ends stdout.
    fn follow(
        &mut self,
        on_output: &mut dyn FnMut(&[u8]) -> Option<Vec<u8>>,
        cancel: &CancelToken,
        framing: Option<&Framing<'_>>,
    ) -> Result<ExecOutcome, LinkError> {
        let mut outcome = ExecOutcome::default();
        let mut traceback = Vec::new();
        // 0: stdout, 1: traceback, 2: waiting for the prompt.
        let mut stage = 0;
        // When Ctrl-C was sent (or, while the code ends by itself, when it last printed).
        let mut interrupted_at: Option<Instant> = None;
        // When a cancel found the code not ready for Ctrl-C.
        let mut held_since: Option<Instant> = None;
        let mut prompt_deadline: Option<Instant> = None;
        let mut watch = framing.map(|f| DoneWatch::new(f.start, f.done));
        loop {
            let mut arrived = false;
            // Consume what is pending for the current stage.
            while !self.pending.is_empty() {
                arrived = true;
                match stage {
                    0 => {
                        let end = match watch.as_mut() {
                            None => self.pending.iter().position(|&b| b == 0x04),
                            Some(watch) => watch.end_in(&self.pending),
                        };
                        let (chunk, ended) = match end {
                            Some(i) => (self.pending.drain(..=i).collect::<Vec<u8>>(), true),
                            None => (std::mem::take(&mut self.pending), false),
                        };
                        let data = if ended {
                            &chunk[..chunk.len() - 1]
                        } else {
                            &chunk[..]
                        };
                        if let Some(reply) = on_output(data) {
                            self.write(&reply)?;
                        }
                        outcome.stdout.extend_from_slice(data);
                        if ended {
                            stage = 1;
                        }
                    }
                    1 => match self.pending.iter().position(|&b| b == 0x04) {
                        Some(i) => {
                            traceback.extend_from_slice(&self.pending[..i]);
                            self.pending.drain(..=i);
                            stage = 2;
                            prompt_deadline = Some(Instant::now() + self.opts.response_timeout);
                        }
                        None => traceback.append(&mut self.pending),
                    },
                    _ => match self.pending.iter().position(|&b| b == b'>') {
                        Some(i) => {
                            self.pending.drain(..=i);
                            self.in_raw = true;
                            let text = String::from_utf8_lossy(&traceback).into_owned();
                            outcome.traceback = (!text.trim().is_empty()).then_some(text);
                            return Ok(outcome);
                        }
                        None => self.pending.clear(),
                    },
                }
            }
            let now = Instant::now();
            if let Some(deadline) = prompt_deadline {
                if now >= deadline {
                    return Err(self.timeout("the raw prompt after execution"));
                }
            }
            if cancel.is_cancelled() {
                let point = match (framing, stage) {
                    (Some(framing), 0) => (framing.interrupt)(),
                    _ => Interruptible::Now,
                };
                match (interrupted_at, point) {
                    // Ending by itself: no Ctrl-C, and no deadline while it keeps printing.
                    (Some(_), Interruptible::Ending) if arrived => interrupted_at = Some(now),
                    (None, Interruptible::Ending) => interrupted_at = Some(now),
                    (None, Interruptible::Now) => {
                        self.write(b"\x03")?;
                        interrupted_at = Some(now);
                    }
                    (None, Interruptible::NotYet) => {
                        // A code that never gets ready (a stuck board) is interrupted anyway.
                        let since = *held_since.get_or_insert(now);
                        if now.duration_since(since) >= self.opts.interrupt_deadline {
                            self.write(b"\x03")?;
                            interrupted_at = Some(now);
                        }
                    }
                    (Some(at), _) if now.duration_since(at) >= self.opts.interrupt_deadline => {
                        return Err(LinkError::StopIgnored {
                            waited: self.opts.interrupt_deadline,
                            board_reset: false,
                        });
                    }
                    _ => {}
                }
            }
            self.fill(self.opts.poll_interval)?;
        }
    }

    fn write(&mut self, data: &[u8]) -> Result<(), LinkError> {
        tracing::trace!(port = %self.port, bytes = %String::from_utf8_lossy(data).escape_debug(), "→ board");
        self.transport.write_all(data)
    }

    /// Reads one chunk into `pending`; returns how many bytes arrived (0 on timeout).
    fn fill(&mut self, timeout: Duration) -> Result<usize, LinkError> {
        let mut buf = [0u8; 4096];
        let n = self.transport.read_timeout(&mut buf, timeout)?;
        let got = &buf[..n.min(buf.len())];
        if n > 0 {
            tracing::trace!(port = %self.port, bytes = %String::from_utf8_lossy(got).escape_debug(), "← board");
        }
        self.pending.extend_from_slice(got);
        Ok(n)
    }

    /// Discards what the board already sent, without waiting.
    fn drain_available(&mut self) -> Result<(), LinkError> {
        self.pending.clear();
        while self.fill(Duration::ZERO)? > 0 {
            self.pending.clear();
        }
        Ok(())
    }

    fn byte_available(&mut self) -> Result<bool, LinkError> {
        if self.pending.is_empty() {
            self.fill(Duration::ZERO)?;
        }
        Ok(!self.pending.is_empty())
    }

    /// Reads up to and including `pattern`; bytes after it stay pending.
    fn read_until(
        &mut self,
        pattern: &[u8],
        timeout: Duration,
        cancel: &CancelToken,
        what: &'static str,
    ) -> Result<Vec<u8>, LinkError> {
        let deadline = Instant::now() + timeout;
        let mut searched: usize = 0;
        loop {
            let start = searched.saturating_sub(pattern.len());
            if let Some(i) = find(&self.pending[start..], pattern) {
                let end = start + i + pattern.len();
                return Ok(self.pending.drain(..end).collect());
            }
            searched = self.pending.len();
            self.wait_more(deadline, cancel, what)?;
        }
    }

    /// Reads exactly `n` bytes.
    fn read_exact(
        &mut self,
        n: usize,
        timeout: Duration,
        cancel: &CancelToken,
        what: &'static str,
    ) -> Result<Vec<u8>, LinkError> {
        let deadline = Instant::now() + timeout;
        while self.pending.len() < n {
            self.wait_more(deadline, cancel, what)?;
        }
        Ok(self.pending.drain(..n).collect())
    }

    fn wait_more(
        &mut self,
        deadline: Instant,
        cancel: &CancelToken,
        what: &'static str,
    ) -> Result<(), LinkError> {
        if cancel.is_cancelled() {
            self.in_raw = false;
            return Err(LinkError::Cancelled);
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(self.timeout(what));
        }
        self.fill((deadline - now).min(self.opts.poll_interval))?;
        Ok(())
    }

    fn timeout(&mut self, what: &'static str) -> LinkError {
        self.in_raw = false;
        LinkError::Timeout {
            port: self.port.clone(),
            what,
            waited: self.opts.response_timeout,
        }
    }

    fn protocol(&mut self, context: &'static str, got: &[u8]) -> LinkError {
        self.in_raw = false;
        LinkError::Protocol {
            port: self.port.clone(),
            context,
            got: String::from_utf8_lossy(got).into_owned(),
        }
    }
}

impl Drop for RawRepl {
    fn drop(&mut self) {
        // Leave the board usable by other tools; errors do not matter any more.
        let _ = self.transport.write_all(b"\x02");
    }
}

/// How framed code's output ends (see [`RawRepl::exec_framed`]).
pub struct Framing<'a> {
    /// What the code prints first (its records' marker).
    pub start: &'a [u8],
    /// What its last line holds (the marker and the final record's kind).
    pub done: &'a [u8],
    /// Whether a Ctrl-C now would reach the code where it can take it.
    pub interrupt: &'a dyn Fn() -> Interruptible,
}

/// Where framed code is, for a Stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interruptible {
    /// Not yet where it catches Ctrl-C: the Ctrl-C waits.
    NotYet,
    /// Running the user's code: Ctrl-C now.
    Now,
    /// Ending by itself (no Ctrl-C needed; the deadline counts from its last output).
    Ending,
}

/// Watches framed stdout for its `start` and its `done` line (see [`RawRepl::exec_framed`]).
struct DoneWatch<'a> {
    start: &'a [u8],
    done: &'a [u8],
    /// The last bytes seen (as many as the longer of `start` and `done`).
    window: Vec<u8>,
    /// `start` has been seen.
    started: bool,
    /// `done` has been seen; the line it is on has not ended yet.
    on_done_line: bool,
    /// The line holding `done` has ended: the next `\x04` ends stdout.
    seen: bool,
}

impl<'a> DoneWatch<'a> {
    fn new(start: &'a [u8], done: &'a [u8]) -> DoneWatch<'a> {
        DoneWatch {
            start,
            done,
            window: Vec::with_capacity(start.len().max(done.len()) + 1),
            started: start.is_empty(),
            on_done_line: false,
            seen: false,
        }
    }

    /// The index in `bytes` of the `\x04` that ends stdout, if it is there.
    fn end_in(&mut self, bytes: &[u8]) -> Option<usize> {
        let keep = self.start.len().max(self.done.len());
        for (i, &byte) in bytes.iter().enumerate() {
            if byte == 0x04 && (self.seen || !self.started) {
                return Some(i);
            }
            if self.seen {
                continue;
            }
            if byte == b'\n' && self.on_done_line {
                self.seen = true;
                continue;
            }
            if self.window.len() == keep {
                self.window.remove(0);
            }
            self.window.push(byte);
            if !self.started && self.window.ends_with(self.start) {
                self.started = true;
            }
            if self.started && !self.done.is_empty() && self.window.ends_with(self.done) {
                self.on_done_line = true;
            }
        }
        None
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Runs the whole protocol (enter raw, exec with raw-paste, soft reset) against a board that
/// answers with `board_bytes`, whatever the host says. For fuzzing and property tests: it must
/// return (Ok or Err) and never panic or hang.
pub fn exercise_with_garbage(board_bytes: &[u8]) {
    let opts = LinkOptions {
        response_timeout: Duration::from_millis(2),
        reset_timeout: Duration::from_millis(2),
        interrupt_deadline: Duration::from_millis(2),
        poll_interval: Duration::from_millis(1),
        plain_chunk_delay: Duration::ZERO,
        ..LinkOptions::default()
    };
    let fake = super::transport::FakeTransport::canned(board_bytes).with_max_chunk(7);
    let mut repl = RawRepl::new(Box::new(fake), opts);
    let cancel = CancelToken::new();
    let _ = repl.enter_raw(&cancel);
    let _ = repl.exec(&[b'x'; 300], &mut |_| {}, &cancel);
    let _ = repl.exec(b"print(1)", &mut |_| {}, &cancel);
    let _ = repl.soft_reset(&cancel);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::transport::{parse_transcript, FakeTransport, TranscriptStep};
    use proptest::prelude::*;

    fn fast_opts() -> LinkOptions {
        LinkOptions {
            response_timeout: Duration::from_millis(200),
            reset_timeout: Duration::from_millis(200),
            interrupt_deadline: Duration::from_millis(200),
            poll_interval: Duration::from_millis(1),
            plain_chunk_delay: Duration::ZERO,
            ..LinkOptions::default()
        }
    }

    /// A scripted board that speaks the raw REPL like the unix port: raw-paste with a window
    /// of `window`, or no raw-paste (`R\x00`) when `window` is None. Each program answers
    /// `ran N bytes`, or a traceback when it starts with `raise`.
    fn pico(window: Option<u16>) -> FakeTransport {
        #[derive(PartialEq, Clone, Copy)]
        enum S {
            Friendly,
            Raw,
            CtrlE,
            CtrlEA,
            Pasting,
        }
        let mut state = S::Friendly;
        let mut code = Vec::new();
        let mut in_window = 0usize;
        FakeTransport::scripted(move |written| {
            let mut out = Vec::new();
            for &b in written {
                state = match (state, b) {
                    (S::Pasting, 0x04) => {
                        out.push(0x04);
                        out.extend(run(&code));
                        code.clear();
                        S::Raw
                    }
                    (S::Pasting, _) => {
                        code.push(b);
                        in_window += 1;
                        if window.is_some_and(|w| in_window == usize::from(w)) {
                            in_window = 0;
                            out.push(0x01);
                        }
                        S::Pasting
                    }
                    (s, 0x01) if s != S::CtrlEA => {
                        code.clear();
                        out.extend_from_slice(b"\r\nraw REPL; CTRL-B to exit\r\n>");
                        S::Raw
                    }
                    (S::Friendly, _) => S::Friendly,
                    (S::CtrlEA, 0x01) => match window {
                        Some(w) => {
                            in_window = 0;
                            code.clear();
                            out.extend_from_slice(b"R\x01");
                            out.extend_from_slice(&w.to_le_bytes());
                            out.push(0x01);
                            S::Pasting
                        }
                        None => {
                            out.extend_from_slice(b"R\x00");
                            S::Raw
                        }
                    },
                    (S::CtrlE, b'A') => S::CtrlEA,
                    (_, 0x05) => S::CtrlE,
                    (_, 0x03) => {
                        code.clear();
                        S::Raw
                    }
                    (_, 0x04) if code.is_empty() => {
                        out.extend_from_slice(
                            b"OK\r\nMPY: soft reboot\r\nraw REPL; CTRL-B to exit\r\n>",
                        );
                        S::Raw
                    }
                    (_, 0x04) => {
                        out.extend_from_slice(b"OK");
                        out.extend(run(&code));
                        code.clear();
                        S::Raw
                    }
                    (_, _) => {
                        code.push(b);
                        S::Raw
                    }
                };
            }
            out
        })
    }

    fn run(code: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        if code.starts_with(b"raise") {
            out.extend_from_slice(
                b"\x04Traceback (most recent call last):\r\nValueError: x\r\n\x04>",
            );
        } else {
            out.extend_from_slice(format!("ran {} bytes\r\n\x04\x04>", code.len()).as_bytes());
        }
        out
    }

    fn big_script() -> Vec<u8> {
        (0..40)
            .map(|i| format!("x{i} = {i} * 2  # some padding\n"))
            .collect::<String>()
            .into_bytes()
    }

    #[test]
    fn raw_paste_sends_a_script_larger_than_several_windows() {
        let fake = pico(Some(128));
        let state = fake.handle();
        let mut repl = RawRepl::new(Box::new(fake), fast_opts());
        let cancel = CancelToken::new();
        repl.enter_raw(&cancel).expect("enter raw");
        let script = big_script();
        assert!(script.len() > 5 * 128);
        let mut streamed = Vec::new();
        let outcome = repl
            .exec(&script, &mut |b| streamed.extend_from_slice(b), &cancel)
            .expect("exec");
        assert_eq!(
            outcome.stdout,
            format!("ran {} bytes\r\n", script.len()).into_bytes()
        );
        assert_eq!(streamed, outcome.stdout);
        assert_eq!(outcome.traceback, None);
        assert_eq!(repl.raw_paste_supported(), Some(true));
        let written = state.lock().expect("lock").written.clone();
        assert!(find(&written, b"\x05A\x01").is_some());
    }

    #[test]
    fn plain_raw_mode_is_used_when_raw_paste_is_refused_and_remembered() {
        let fake = pico(None);
        let state = fake.handle();
        let mut repl = RawRepl::new(Box::new(fake), fast_opts());
        let cancel = CancelToken::new();
        let script = big_script();
        let outcome = repl.exec(&script, &mut |_| {}, &cancel).expect("exec");
        assert_eq!(
            outcome.stdout,
            format!("ran {} bytes\r\n", script.len()).into_bytes()
        );
        assert_eq!(repl.raw_paste_supported(), Some(false));
        repl.exec(b"y = 1", &mut |_| {}, &cancel).expect("exec");
        let written = state.lock().expect("lock").written.clone();
        let tries = written.windows(3).filter(|w| w == b"\x05A\x01").count();
        assert_eq!(tries, 1, "raw-paste is tried once per connection");
    }

    #[test]
    fn plain_mode_can_be_forced() {
        let fake = pico(Some(128));
        let state = fake.handle();
        let opts = LinkOptions {
            use_raw_paste: false,
            ..fast_opts()
        };
        let mut repl = RawRepl::new(Box::new(fake), opts);
        let outcome = repl
            .exec(b"y = 1", &mut |_| {}, &CancelToken::new())
            .expect("exec");
        assert_eq!(outcome.stdout, b"ran 5 bytes\r\n");
        assert!(find(&state.lock().expect("lock").written, b"\x05A").is_none());
    }

    #[test]
    fn traceback_is_kept_apart_from_stdout() {
        let mut repl = RawRepl::new(Box::new(pico(Some(128))), fast_opts());
        let outcome = repl
            .exec(b"raise ValueError('x')", &mut |_| {}, &CancelToken::new())
            .expect("exec");
        assert_eq!(outcome.stdout, b"");
        assert_eq!(
            outcome.traceback.as_deref(),
            Some("Traceback (most recent call last):\r\nValueError: x\r\n")
        );
    }

    #[test]
    fn soft_reset_waits_for_the_raw_banner() {
        let mut repl = RawRepl::new(Box::new(pico(Some(128))), fast_opts());
        let cancel = CancelToken::new();
        repl.soft_reset(&cancel).expect("reset");
        assert!(repl.in_raw());
    }

    #[test]
    fn early_stop_during_raw_paste_is_acknowledged() {
        // The board stops after the first window (e.g. a syntax error) with \x04.
        let mut granted = false;
        let fake = FakeTransport::scripted(move |w| match w {
            b"\r\x01" => b"raw REPL; CTRL-B to exit\r\n>".to_vec(),
            b"\x05A\x01" => b"R\x01\x10\x00".to_vec(),
            _ if !granted && w.len() == 16 => {
                granted = true;
                b"\x04".to_vec()
            }
            b"\x04" => b"\x04Traceback\r\nSyntaxError: invalid syntax\r\n\x04>".to_vec(),
            _ => Vec::new(),
        });
        let state = fake.handle();
        let mut repl = RawRepl::new(Box::new(fake), fast_opts());
        let outcome = repl
            .exec(&[b'a'; 64], &mut |_| {}, &CancelToken::new())
            .expect("exec");
        assert!(outcome
            .traceback
            .as_deref()
            .is_some_and(|t| t.contains("SyntaxError")));
        let written = state.lock().expect("lock").written.clone();
        assert!(written.ends_with(b"\x04"));
    }

    #[test]
    fn cancel_sends_ctrl_c_and_returns_the_keyboard_interrupt() {
        let fake = FakeTransport::scripted(|w| match w {
            b"\r\x01" => b"raw REPL; CTRL-B to exit\r\n>".to_vec(),
            b"\x05A\x01" => b"R\x01\x80\x00\x01".to_vec(),
            b"\x04" => b"\x04".to_vec(),
            b"\x03" => {
                b"\x04Traceback (most recent call last):\r\nKeyboardInterrupt: \r\n\x04>".to_vec()
            }
            _ => Vec::new(),
        });
        let mut repl = RawRepl::new(Box::new(fake), fast_opts());
        let cancel = CancelToken::new();
        repl.enter_raw(&cancel).expect("enter");
        // Cancel from another thread while the (silent) program runs.
        let trigger = cancel.clone();
        let canceller = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            trigger.cancel();
        });
        let outcome = repl
            .exec(b"while True: pass", &mut |_| {}, &cancel)
            .expect("exec");
        canceller.join().expect("canceller");
        assert!(outcome
            .traceback
            .as_deref()
            .is_some_and(|t| t.contains("KeyboardInterrupt")));
        assert!(repl.in_raw());
    }

    const START: &[u8] = b"\x1eHLm";
    const DONE: &[u8] = b"\x1eHLm Z";

    /// A board whose framed run prints `run_output` (after the raw-paste ack) and, on Ctrl-C,
    /// `on_interrupt`.
    fn framed_board(run_output: &'static [u8], on_interrupt: &'static [u8]) -> FakeTransport {
        FakeTransport::scripted(move |w| match w {
            b"\r\x01" => b"raw REPL; CTRL-B to exit\r\n>".to_vec(),
            b"\x05A\x01" => b"R\x01\x80\x00\x01".to_vec(),
            b"\x04" => [b"\x04".as_slice(), run_output].concat(),
            b"\x03" => on_interrupt.to_vec(),
            _ => Vec::new(),
        })
    }

    fn framed_exec(
        fake: FakeTransport,
        point: &std::sync::atomic::AtomicU8,
        cancel: &CancelToken,
    ) -> Result<ExecOutcome, LinkError> {
        use std::sync::atomic::Ordering;
        let mut repl = RawRepl::new(Box::new(fake), fast_opts());
        repl.enter_raw(&CancelToken::new()).expect("enter raw");
        let interrupt = || match point.load(Ordering::SeqCst) {
            0 => Interruptible::NotYet,
            1 => Interruptible::Now,
            _ => Interruptible::Ending,
        };
        let framing = Framing {
            start: START,
            done: DONE,
            interrupt: &interrupt,
        };
        let mut seen = Vec::new();
        repl.exec_framed(
            b"R()",
            &framing,
            &mut |bytes| {
                seen.extend_from_slice(bytes);
                // The runner's view: the before record complete, then the ending.
                if find(&seen, b"\x1eHLm .").is_some() && point.load(Ordering::SeqCst) == 0 {
                    point.store(1, Ordering::SeqCst);
                }
                None
            },
            cancel,
        )
    }

    #[test]
    fn framed_output_keeps_eot_bytes_and_a_printed_fake_ending() {
        const RUN: &[u8] = b"\x1eHLm B\r\nGC\r\n\x1eHLm .\r\na\x04b\r\nc\x04d\x04e\r\n\
            \x04Traceback (most recent call last):\r\nMemoryError: fake\r\n\x04>\
            more\r\n\x1eHLm Z 0 0\r\n\x04\x04>";
        let point = std::sync::atomic::AtomicU8::new(0);
        let outcome =
            framed_exec(framed_board(RUN, b""), &point, &CancelToken::new()).expect("framed exec");
        assert_eq!(outcome.stdout, &RUN[..RUN.len() - 3]);
        assert_eq!(outcome.traceback, None);
    }

    #[test]
    fn framed_code_that_fails_before_its_start_ends_at_the_protocols_eot() {
        const RUN: &[u8] = b"\x04Traceback (most recent call last):\r\nMemoryError: x\r\n\x04>";
        let point = std::sync::atomic::AtomicU8::new(0);
        let outcome =
            framed_exec(framed_board(RUN, b""), &point, &CancelToken::new()).expect("framed exec");
        assert_eq!(outcome.stdout, b"");
        assert!(outcome
            .traceback
            .is_some_and(|t| t.contains("MemoryError: x")));
    }

    #[test]
    fn a_stop_waits_for_the_code_to_be_ready_for_ctrl_c() {
        // Stopped before the run even started: the Ctrl-C goes only once the before record
        // is complete, and once only.
        const RUN: &[u8] = b"\x1eHLm B\r\nGC\r\n\x1eHLm .\r\n";
        const ENDING: &[u8] = b"\x1eHLm Z 3 0\r\n\x04\x04>";
        let fake = framed_board(RUN, ENDING);
        let state = fake.handle();
        let point = std::sync::atomic::AtomicU8::new(0);
        let cancel = CancelToken::new();
        cancel.cancel();
        let outcome = framed_exec(fake, &point, &cancel).expect("framed exec");
        assert!(find(&outcome.stdout, b"Z 3 0").is_some());
        let written = state.lock().expect("lock").written.clone();
        let paste_end = written.iter().rposition(|&b| b == 0x04).expect("code sent");
        let ctrl_c: Vec<usize> = (0..written.len()).filter(|&i| written[i] == 0x03).collect();
        assert_eq!(
            ctrl_c.len(),
            2,
            "enter_raw's, then one for the stop: {written:?}"
        );
        assert!(ctrl_c[1] > paste_end);
    }

    #[test]
    fn a_stop_while_the_code_ends_by_itself_sends_no_ctrl_c() {
        const RUN: &[u8] = b"\x1eHLm B\r\nGC\r\n\x1eHLm .\r\n\x1eHLm A\r\nGC\r\n\x1eHLm .\r\n\x1eHLm Z 0 0\r\n\x04\x04>";
        let fake = framed_board(RUN, b"");
        let state = fake.handle();
        let point = std::sync::atomic::AtomicU8::new(2);
        let cancel = CancelToken::new();
        cancel.cancel();
        let outcome = framed_exec(fake, &point, &cancel).expect("framed exec");
        assert_eq!(outcome.stdout, &RUN[..RUN.len() - 3]);
        let written = state.lock().expect("lock").written.clone();
        assert_eq!(
            written.iter().filter(|&&b| b == 0x03).count(),
            1,
            "enter_raw's only"
        );
    }

    #[test]
    fn a_board_that_never_gets_ready_is_interrupted_after_the_deadline() {
        const ENDING: &[u8] =
            b"\x04Traceback (most recent call last):\r\nKeyboardInterrupt: \r\n\x04>";
        let point = std::sync::atomic::AtomicU8::new(0);
        let cancel = CancelToken::new();
        cancel.cancel();
        let outcome = framed_exec(framed_board(b"", ENDING), &point, &cancel).expect("framed exec");
        assert!(outcome
            .traceback
            .is_some_and(|t| t.contains("KeyboardInterrupt")));
    }

    #[test]
    fn cancel_without_a_traceback_gives_cancelled() {
        let fake = FakeTransport::scripted(|w| match w {
            b"\r\x01" => b"raw REPL; CTRL-B to exit\r\n>".to_vec(),
            b"\x05A\x01" => b"R\x01\x80\x00\x01".to_vec(),
            b"\x04" => b"\x04busy".to_vec(),
            _ => Vec::new(),
        });
        let mut repl = RawRepl::new(Box::new(fake), fast_opts());
        let cancel = CancelToken::new();
        repl.enter_raw(&cancel).expect("enter");
        let trigger = cancel.clone();
        let result = repl.exec(b"while True: pass", &mut |_| trigger.cancel(), &cancel);
        assert!(matches!(
            result,
            Err(LinkError::StopIgnored {
                board_reset: false,
                ..
            })
        ));
        assert!(!repl.in_raw());
    }

    #[test]
    fn a_vanished_board_is_reported_at_once() {
        let fake = FakeTransport::canned(b"raw REPL; CTRL-B to exit\r\n>R\x01\x80\x00\x01\x04par");
        let mut repl = RawRepl::new(Box::new(fake), fast_opts());
        let result = repl.exec(b"print('parrot')", &mut |_| {}, &CancelToken::new());
        assert!(matches!(result, Err(LinkError::Disconnected { .. })));
    }

    /// Transcripts recorded from the MicroPython unix port 1.29-preview behind the simulated
    /// board, replayed byte for byte.
    #[test]
    fn recorded_transcripts_replay() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/transcripts");
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .expect("transcripts dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "txt"))
            .collect();
        names.sort();
        assert!(!names.is_empty());
        for path in names {
            let text = std::fs::read_to_string(&path).expect("read transcript");
            let (header, _) = text.split_once("\n").expect("header line");
            // Header: `# code: <escaped program>; expect: <escaped stdout>`.
            let spec = header.trim_start_matches("# ");
            let (code, expect) = spec.split_once("; expect: ").expect("header format");
            let code = code.trim_start_matches("code: ");
            let steps = parse_transcript(&text).expect("transcript parses");
            let code = match parse_transcript(&format!("H: {code}")).expect("code")[..] {
                [TranscriptStep::Host(ref c)] => c.clone(),
                _ => Vec::new(),
            };
            let expect = match parse_transcript(&format!("B: {expect}")).expect("expect")[..] {
                [TranscriptStep::Board(ref e)] => e.clone(),
                _ => Vec::new(),
            };
            let fake = FakeTransport::replay(steps);
            let state = fake.handle();
            let mut repl = RawRepl::new(Box::new(fake), fast_opts());
            let cancel = CancelToken::new();
            repl.enter_raw(&cancel).expect("enter raw");
            let outcome = repl.exec(&code, &mut |_| {}, &cancel).expect("exec");
            let shown = format!("{}", path.display());
            assert_eq!(outcome.stdout, expect, "{shown}");
            assert_eq!(state.lock().expect("lock").divergence, None, "{shown}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn garbage_from_the_board_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            exercise_with_garbage(&bytes);
        }

        #[test]
        fn protocol_like_garbage_never_panics(parts in proptest::collection::vec(
            prop_oneof![
                Just(b"raw REPL; CTRL-B to exit\r\n>".to_vec()),
                Just(b"R\x01".to_vec()), Just(b"R\x00".to_vec()), Just(vec![0x80, 0x00]),
                Just(vec![0x01]), Just(vec![0x04]), Just(b"OK".to_vec()), Just(vec![0xff, 0xfe]),
                Just(b"soft reboot\r\n".to_vec()), Just(b">".to_vec()),
            ], 0..30)) {
            exercise_with_garbage(&parts.concat());
        }
    }
}
