//! What the simulated Pico's supervisor does to the host's bytes before the interpreter reads
//! them, so that bytes arrive as a Pico would read them.
//!
//! The unix port turns every `\n` it reads from stdin into `\r` (`mp_hal_stdin_rx_chr` in
//! `ports/unix/unix_mphal.c`), so a CR LF pair sent by a host reaches it as two line ends: a
//! CR LF inside a triple-quoted string becomes two newlines, and `input()` sees an extra empty
//! line. A Pico's USB CDC passes bytes unchanged and MicroPython's lexer reads CR LF as one
//! line end. So the supervisor drops a `\n` that directly follows a `\r` (the `\r` already is
//! the line end; a lone `\n` or `\r` passes).
//!
//! In raw-paste mode the interpreter grants the host more room each time it has read a window
//! of bytes. Bytes dropped here are never read, so for each window's worth of dropped bytes
//! the supervisor sends the host the grant (`\x01`) the interpreter would have sent; the host
//! never waits for room that never comes.

/// Host → interpreter filter with the raw-paste bookkeeping it needs (see the module doc).
#[derive(Debug, Default)]
pub(crate) struct HostInput {
    /// The last byte passed to the interpreter was `\r`.
    after_cr: bool,
    paste: Paste,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Paste {
    /// Not in raw-paste mode; `matched` bytes of the request (`\x05A\x01`) seen so far.
    #[default]
    Off,
    Matching(usize),
    /// The host asked; the interpreter's answer (`R\x01` and the window size) so far.
    Asked {
        answer: [u8; 4],
        len: usize,
    },
    /// Code is being pasted: the window size, and bytes dropped but not yet granted back.
    Data {
        window: u16,
        owed: usize,
    },
}

const PASTE_REQUEST: &[u8] = b"\x05A\x01";
const END: u8 = 0x04;

impl HostInput {
    /// Takes bytes from the host: what the interpreter should read goes to `to_child`, grants
    /// the supervisor answers on the interpreter's behalf go to `to_host`.
    pub fn take_host(&mut self, data: &[u8], to_child: &mut Vec<u8>, to_host: &mut Vec<u8>) {
        for &byte in data {
            self.track_host(byte);
            if byte == b'\n' && self.after_cr {
                self.after_cr = false;
                if let Paste::Data { window, owed } = &mut self.paste {
                    *owed += 1;
                    if *owed >= usize::from(*window).max(1) {
                        *owed = 0;
                        to_host.push(0x01);
                    }
                }
                continue;
            }
            self.after_cr = byte == b'\r';
            to_child.push(byte);
        }
    }

    /// Watches the interpreter's output for its answers to a raw-paste request.
    pub fn watch_child(&mut self, data: &[u8]) {
        for &byte in data {
            match &mut self.paste {
                Paste::Asked { answer, len } => {
                    answer[*len] = byte;
                    *len += 1;
                    let head = (*len).min(2);
                    let ok = answer[..head] == b"R\x01"[..head];
                    if !ok {
                        // `R\x00` (unsupported) or an old firmware's banner.
                        self.paste = Paste::Off;
                    } else if *len == 4 {
                        let window = u16::from_le_bytes([answer[2], answer[3]]);
                        self.paste = Paste::Data { window, owed: 0 };
                    }
                }
                // The interpreter stops a paste early with `\x04` (the host answers `\x04`).
                Paste::Data { .. } if byte == END => self.paste = Paste::Off,
                _ => {}
            }
        }
    }

    fn track_host(&mut self, byte: u8) {
        self.paste = match self.paste {
            Paste::Off | Paste::Matching(_) => {
                let matched = match self.paste {
                    Paste::Matching(n) => n,
                    _ => 0,
                };
                if byte == PASTE_REQUEST[matched] {
                    if matched + 1 == PASTE_REQUEST.len() {
                        Paste::Asked {
                            answer: [0; 4],
                            len: 0,
                        }
                    } else {
                        Paste::Matching(matched + 1)
                    }
                } else if byte == PASTE_REQUEST[0] {
                    Paste::Matching(1)
                } else {
                    Paste::Off
                }
            }
            Paste::Data { .. } if byte == END => Paste::Off,
            other => other,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(input: &mut HostInput, chunks: &[&[u8]]) -> (Vec<u8>, Vec<u8>) {
        let (mut child, mut host) = (Vec::new(), Vec::new());
        for chunk in chunks {
            input.take_host(chunk, &mut child, &mut host);
        }
        (child, host)
    }

    #[test]
    fn cr_lf_becomes_one_line_end_however_it_is_split() {
        let text: &[u8] = b"a\r\nb\rc\nd\r\r\ne";
        let expected: &[u8] = b"a\rb\rc\nd\r\re";
        for cut in 0..=text.len() {
            let (child, host) = feed(&mut HostInput::default(), &[&text[..cut], &text[cut..]]);
            assert_eq!(child, expected, "cut at {cut}");
            assert!(host.is_empty());
        }
    }

    #[test]
    fn a_paste_gets_a_grant_for_each_window_of_dropped_bytes() {
        let mut input = HostInput::default();
        let (child, _) = feed(&mut input, &[b"\x01\x05A\x01"]);
        assert_eq!(child, b"\x01\x05A\x01");
        input.watch_child(b"R\x01\x04\x00\x01"); // window 4, then the initial grant
        let (child, host) = feed(&mut input, &[b"x\r\ny\r\nz\r\n\r\n\r\n"]);
        assert_eq!(child, b"x\ry\rz\r\r\r");
        assert_eq!(
            host, b"\x01",
            "5 dropped bytes: one window of 4 granted back"
        );
        // The paste ends with the host's \x04; after it nothing is owed.
        let (_, host) = feed(&mut input, &[b"\x04", b"a\r\nb\r\nc\r\nd\r\ne\r\n"]);
        assert!(host.is_empty(), "{host:?}");
    }

    #[test]
    fn no_paste_without_the_interpreter_saying_so() {
        let mut input = HostInput::default();
        feed(&mut input, &[b"\x05A", b"\x01"]);
        input.watch_child(b"R\x00");
        let (_, host) = feed(&mut input, &[b"1\r\n2\r\n3\r\n4\r\n5\r\n"]);
        assert!(host.is_empty());
        // An interpreter that stops a paste early ends it too.
        feed(&mut input, &[b"\x05\x05A\x01"]);
        input.watch_child(b"R\x01\x02\x00\x01");
        input.watch_child(b"\x04");
        let (_, host) = feed(&mut input, &[b"1\r\n2\r\n3\r\n"]);
        assert!(host.is_empty());
    }
}
