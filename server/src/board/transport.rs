//! Byte transports under the raw REPL: a serial port (also used for pty paths, including the
//! simulated board's) and an in-memory fake for tests. A transport only moves bytes; it knows
//! nothing of the REPL protocol.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::LinkError;

/// A bidirectional byte stream to a board.
pub trait Transport: Send {
    /// Reads whatever is available into `buf`, waiting at most `timeout` for the first byte.
    /// Returns `Ok(0)` when nothing arrived in time. A vanished board is
    /// `Err(LinkError::Disconnected)`, never a hang.
    fn read_timeout(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, LinkError>;
    /// Writes all of `data`.
    fn write_all(&mut self, data: &[u8]) -> Result<(), LinkError>;
    /// Waits until written bytes have left the host.
    fn flush(&mut self) -> Result<(), LinkError>;
    /// The port name shown in messages (`/dev/ttyACM0`, `/dev/pts/7`, `fake`).
    fn name(&self) -> &str;
    /// Raises or drops DTR. A Pico only sends output while DTR is asserted (TinyUSB's `tud_cdc_connected()`).
    fn set_dtr(&mut self, _on: bool) -> Result<(), LinkError> {
        Ok(())
    }
}

/// A serial port or pty path opened with the `serialport` crate: 115200 baud (ignored by USB
/// CDC), DTR asserted, exclusive access.
pub struct SerialTransport {
    port: NativePort,
    name: String,
    write_timeout: Duration,
}

impl SerialTransport {
    /// Opens `path`. Busy and permission problems become `PortBusy` / `PermissionDenied`.
    pub fn open(path: &Path, write_timeout: Duration) -> Result<SerialTransport, LinkError> {
        let name = path.display().to_string();
        // Windows names ports `COM3`, which are not files: its open says when one is missing.
        if cfg!(unix) && !path.exists() {
            return Err(LinkError::PortNotFound { port: name });
        }
        let builder = serialport::new(name.clone(), 115_200)
            .dtr_on_open(true)
            .timeout(write_timeout);
        let port = open_exclusive(&builder).map_err(|err| open_error(&name, &err))?;
        Ok(SerialTransport {
            port,
            name,
            write_timeout,
        })
    }
}

/// The port type of this system: a tty (Unix, ptys included) or a COM port (Windows).
#[cfg(unix)]
type NativePort = serialport::TTYPort;
#[cfg(windows)]
type NativePort = serialport::COMPort;

/// Opens the port for this program alone.
#[cfg(unix)]
fn open_exclusive(builder: &serialport::SerialPortBuilder) -> serialport::Result<NativePort> {
    let mut port = serialport::TTYPort::open(builder)?;
    // `open` sets exclusive mode already; make it explicit because it is part of the contract.
    port.set_exclusive(true)?;
    Ok(port)
}

/// Opens the port for this program alone (Windows never shares an open COM port).
#[cfg(windows)]
fn open_exclusive(builder: &serialport::SerialPortBuilder) -> serialport::Result<NativePort> {
    serialport::COMPort::open(builder)
}

/// Maps a `serialport` open error to an actionable `LinkError`.
fn open_error(port: &str, err: &serialport::Error) -> LinkError {
    let port = port.to_string();
    match err.kind() {
        // Windows reports a missing port and one another program holds alike.
        serialport::ErrorKind::NoDevice if cfg!(windows) => LinkError::Open {
            port,
            message: "no such port, or another program (Thonny, mpremote, a serial monitor) \
                      holds it (`heaplens ports` lists ports)"
                .into(),
        },
        // serialport reports EBUSY (TIOCEXCL) and a held flock as NoDevice.
        serialport::ErrorKind::NoDevice => LinkError::PortBusy { port },
        serialport::ErrorKind::Io(std::io::ErrorKind::PermissionDenied) => {
            LinkError::PermissionDenied { port }
        }
        serialport::ErrorKind::Io(std::io::ErrorKind::NotFound) => LinkError::PortNotFound { port },
        _ => LinkError::Open {
            port,
            message: err.to_string(),
        },
    }
}

impl Transport for SerialTransport {
    fn read_timeout(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, LinkError> {
        if let Err(err) = serialport::SerialPort::set_timeout(&mut self.port, timeout) {
            return Err(LinkError::Io {
                port: self.name.clone(),
                message: err.to_string(),
            });
        }
        loop {
            match self.port.read(buf) {
                // A tty read of 0 bytes after poll said "readable" means end of file: the other
                // end is gone.
                Ok(0) => {
                    return Err(LinkError::Disconnected {
                        port: self.name.clone(),
                    })
                }
                Ok(n) => return Ok(n),
                Err(err) => match err.kind() {
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => return Ok(0),
                    std::io::ErrorKind::Interrupted => continue,
                    // EIO, ENXIO, POLLHUP (BrokenPipe) and the rest: the board vanished.
                    _ => {
                        return Err(LinkError::Disconnected {
                            port: self.name.clone(),
                        })
                    }
                },
            }
        }
    }

    fn write_all(&mut self, data: &[u8]) -> Result<(), LinkError> {
        let _ = serialport::SerialPort::set_timeout(&mut self.port, self.write_timeout);
        match self.port.write_all(data) {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == std::io::ErrorKind::TimedOut => Err(LinkError::Timeout {
                port: self.name.clone(),
                what: "the port to accept written bytes",
                waited: self.write_timeout,
            }),
            Err(_) => Err(LinkError::Disconnected {
                port: self.name.clone(),
            }),
        }
    }

    fn flush(&mut self) -> Result<(), LinkError> {
        // tcdrain on a pty whose other end is closed can fail; treat it like a vanished board.
        self.port.flush().map_err(|_| LinkError::Disconnected {
            port: self.name.clone(),
        })
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn set_dtr(&mut self, on: bool) -> Result<(), LinkError> {
        // Best effort: a pty has no modem lines.
        let _ = serialport::SerialPort::write_data_terminal_ready(&mut self.port, on);
        Ok(())
    }
}

/// What a `FakeTransport` does when the host writes.
type Responder = Box<dyn FnMut(&[u8]) -> Vec<u8> + Send>;

/// Shared state of a fake, inspectable from the test through `FakeTransport::handle`.
#[derive(Default)]
pub struct FakeState {
    /// Bytes the "board" will deliver to the host.
    pub to_host: VecDeque<u8>,
    /// Everything the host wrote, in order.
    pub written: Vec<u8>,
    /// When true, reads fail with `Disconnected` once `to_host` is empty.
    pub disconnect_when_drained: bool,
    /// Transcript replay: pending steps and the first divergence seen.
    replay: VecDeque<TranscriptStep>,
    replay_host_expected: Vec<u8>,
    /// The first place where the host wrote something else than the transcript says.
    pub divergence: Option<String>,
}

/// An in-memory transport for unit tests: scripted replies, or replay of a recorded transcript.
pub struct FakeTransport {
    state: Arc<Mutex<FakeState>>,
    responder: Option<Responder>,
    max_chunk: usize,
}

/// One step of a recorded raw-REPL session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TranscriptStep {
    /// Bytes the host wrote.
    Host(Vec<u8>),
    /// Bytes the board sent.
    Board(Vec<u8>),
}

impl FakeTransport {
    /// A fake whose board answers every host write with `responder(written_bytes)`.
    pub fn scripted(responder: impl FnMut(&[u8]) -> Vec<u8> + Send + 'static) -> FakeTransport {
        FakeTransport {
            state: Arc::new(Mutex::new(FakeState::default())),
            responder: Some(Box::new(responder)),
            max_chunk: usize::MAX,
        }
    }

    /// A fake that delivers `bytes` to the host (whatever the host writes), then reports a
    /// disconnect once they are consumed.
    pub fn canned(bytes: &[u8]) -> FakeTransport {
        let fake = FakeTransport::scripted(|_| Vec::new());
        {
            let mut state = fake.lock();
            state.to_host.extend(bytes);
            state.disconnect_when_drained = true;
        }
        fake
    }

    /// A fake that replays a transcript: each board chunk is released once the host has written
    /// the host chunks before it. Host bytes that differ from the transcript are recorded in
    /// `FakeState::divergence`. After the last step the fake reports a disconnect.
    pub fn replay(steps: Vec<TranscriptStep>) -> FakeTransport {
        let fake = FakeTransport {
            state: Arc::new(Mutex::new(FakeState::default())),
            responder: None,
            max_chunk: usize::MAX,
        };
        {
            let mut state = fake.lock();
            state.replay = steps.into();
            state.disconnect_when_drained = true;
            advance_replay(&mut state);
        }
        fake
    }

    /// Deliver at most `n` bytes per read (to exercise split patterns).
    pub fn with_max_chunk(mut self, n: usize) -> FakeTransport {
        self.max_chunk = n.max(1);
        self
    }

    /// A handle on the shared state, kept by the test after the fake moved into a link.
    pub fn handle(&self) -> Arc<Mutex<FakeState>> {
        Arc::clone(&self.state)
    }

    fn lock(&self) -> MutexGuard<'_, FakeState> {
        // A poisoned lock only means another test thread panicked; the data is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Releases board chunks whose preceding host bytes have all been written.
fn advance_replay(state: &mut FakeState) {
    loop {
        if !state.replay_host_expected.is_empty() {
            let n = state.replay_host_expected.len();
            if state.written.len() < n {
                return;
            }
            // Compare what the host wrote with the transcript, then consume it.
            let written: Vec<u8> = state.written.drain(..n).collect();
            if written != state.replay_host_expected && state.divergence.is_none() {
                state.divergence = Some(format!(
                    "host wrote {:?}, transcript says {:?}",
                    String::from_utf8_lossy(&written),
                    String::from_utf8_lossy(&state.replay_host_expected)
                ));
            }
            state.replay_host_expected.clear();
        }
        match state.replay.pop_front() {
            Some(TranscriptStep::Board(bytes)) => state.to_host.extend(bytes),
            Some(TranscriptStep::Host(bytes)) => state.replay_host_expected = bytes,
            None => return,
        }
    }
}

impl Transport for FakeTransport {
    fn read_timeout(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, LinkError> {
        let mut state = self.lock();
        if state.to_host.is_empty() {
            let replay_done = state.replay.is_empty() && state.replay_host_expected.is_empty();
            if state.disconnect_when_drained && replay_done {
                return Err(LinkError::Disconnected {
                    port: "fake".into(),
                });
            }
            // Nothing scripted yet: behave like a short timeout (bounded so tests stay fast).
            drop(state);
            std::thread::sleep(timeout.min(Duration::from_millis(1)));
            return Ok(0);
        }
        let n = buf.len().min(state.to_host.len()).min(self.max_chunk);
        for slot in buf.iter_mut().take(n) {
            // `n` is at most the queue length, so pop_front always yields here.
            *slot = state.to_host.pop_front().unwrap_or(0);
        }
        Ok(n)
    }

    fn write_all(&mut self, data: &[u8]) -> Result<(), LinkError> {
        let reply = match self.responder.as_mut() {
            Some(responder) => responder(data),
            None => Vec::new(),
        };
        let mut state = self.lock();
        state.written.extend_from_slice(data);
        state.to_host.extend(reply);
        if self.responder.is_none() {
            advance_replay(&mut state);
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), LinkError> {
        Ok(())
    }

    fn name(&self) -> &str {
        "fake"
    }
}

/// Parses a transcript file: lines `H: text` (host wrote) and `B: text` (board sent), with
/// escapes `\r`, `\n`, `\\`, `\xNN`; `#` lines and blank lines are comments. A line ending in
/// `\` + newline is not special: each line is one chunk.
pub fn parse_transcript(text: &str) -> Result<Vec<TranscriptStep>, String> {
    let mut steps = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (who, rest) = match line.split_once(": ") {
            Some(pair) => pair,
            None => return Err(format!("line {}: expected `H: ` or `B: `", index + 1)),
        };
        let bytes = unescape(rest).map_err(|e| format!("line {}: {e}", index + 1))?;
        match who {
            "H" => steps.push(TranscriptStep::Host(bytes)),
            "B" => steps.push(TranscriptStep::Board(bytes)),
            _ => return Err(format!("line {}: expected `H: ` or `B: `", index + 1)),
        }
    }
    Ok(steps)
}

fn unescape(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        match bytes.get(i + 1) {
            Some(b'r') => out.push(b'\r'),
            Some(b'n') => out.push(b'\n'),
            Some(b'\\') => out.push(b'\\'),
            Some(b'x') => {
                let hex = text.get(i + 2..i + 4).ok_or("truncated \\x escape")?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| "bad \\x escape")?);
                i += 2;
            }
            _ => return Err("unknown escape".into()),
        }
        i += 2;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transcript_parses_escapes_and_comments() {
        let steps = parse_transcript("# c\nH: \\r\\x01\nB: a\\\\b\\r\\n>\n").expect("parses");
        assert_eq!(
            steps,
            vec![
                TranscriptStep::Host(b"\r\x01".to_vec()),
                TranscriptStep::Board(b"a\\b\r\n>".to_vec()),
            ]
        );
        assert!(parse_transcript("X: y").is_err());
        assert!(parse_transcript("H: \\x4").is_err());
    }

    #[test]
    fn replay_releases_board_bytes_after_host_bytes_and_records_divergence() {
        let mut fake = FakeTransport::replay(vec![
            TranscriptStep::Host(b"ab".to_vec()),
            TranscriptStep::Board(b"ok".to_vec()),
        ]);
        let mut buf = [0u8; 8];
        assert_eq!(fake.read_timeout(&mut buf, Duration::ZERO).ok(), Some(0));
        fake.write_all(b"ax").expect("write");
        assert_eq!(fake.read_timeout(&mut buf, Duration::ZERO).ok(), Some(2));
        assert_eq!(&buf[..2], b"ok");
        assert!(fake.handle().lock().expect("lock").divergence.is_some());
        assert!(matches!(
            fake.read_timeout(&mut buf, Duration::ZERO),
            Err(LinkError::Disconnected { .. })
        ));
    }

    #[test]
    fn opening_a_missing_port_is_a_typed_error() {
        let err = SerialTransport::open(Path::new("/dev/heaplens-no-such-port"), Duration::ZERO);
        assert!(matches!(err, Err(LinkError::PortNotFound { .. })));
    }
}
