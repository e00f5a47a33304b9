//! Mapping lines of an instrumented script back to the user's lines.
//!
//! The instrumenter keeps user line numbers unchanged wherever it can (probes go on the
//! statement's own line or on a blank/comment line), so most maps are the identity. When a
//! probe needs a line of its own and no free line exists, a line is inserted and every later
//! line shifts; this map undoes that. It also knows which lines are harness code (a prologue
//! or readout concatenated around the script), so tracebacks never show them.
//!
//! This module knows nothing about tree-sitter or the board: it is a table and a text filter.

/// Where one line of the instrumented text came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineOrigin {
    /// A line of the user's script (1-based user line), possibly with probe code added to it.
    User(u32),
    /// A line inserted only to hold a probe; the probe measures the given user line.
    Probe(u32),
    /// Harness code (prologue, readout) around the script; never shown to the user.
    Harness,
}

/// Prefix of every name the probes define on the board. Traceback frames of functions with
/// this prefix are probe frames and are hidden from the user.
pub const PROBE_NAME_PREFIX: &str = "_hl_";

/// Maps each line of the instrumented text (1-based) to its origin.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LineMap {
    origins: Vec<LineOrigin>,
}

impl LineMap {
    /// A map from the origins of instrumented lines 1, 2, 3, … in order.
    pub fn from_origins(origins: Vec<LineOrigin>) -> Self {
        LineMap { origins }
    }

    /// The identity map for a script of `lines` lines (no probes, e.g. a plain run).
    pub fn identity(lines: u32) -> Self {
        LineMap {
            origins: (1..=lines).map(LineOrigin::User).collect(),
        }
    }

    /// Number of instrumented lines the map covers.
    pub fn len(&self) -> usize {
        self.origins.len()
    }

    /// True when the map covers no lines.
    pub fn is_empty(&self) -> bool {
        self.origins.is_empty()
    }

    /// The origin of instrumented line `line` (1-based), if the map covers it.
    pub fn origin(&self, line: u32) -> Option<LineOrigin> {
        let index = usize::try_from(line).ok()?.checked_sub(1)?;
        self.origins.get(index).copied()
    }

    /// The user line that instrumented line `line` stands for: the line itself for user lines,
    /// the measured statement's line for inserted probe lines, `None` for harness lines and
    /// lines outside the map.
    pub fn user_line(&self, line: u32) -> Option<u32> {
        match self.origin(line)? {
            LineOrigin::User(user) | LineOrigin::Probe(user) => Some(user),
            LineOrigin::Harness => None,
        }
    }

    /// A new map with `before` harness lines in front and `after` harness lines behind: the
    /// map of `prologue + code + readout` concatenated into one file.
    pub fn wrapped(&self, before: usize, after: usize) -> LineMap {
        let mut origins = vec![LineOrigin::Harness; before];
        origins.extend_from_slice(&self.origins);
        origins.extend(std::iter::repeat_n(LineOrigin::Harness, after));
        LineMap { origins }
    }

    /// Rewrites a MicroPython traceback (or any text containing one) so that every
    /// `File "<stdin>", line N` frame, at any depth, names the user's line, and probe or harness
    /// frames disappear. Other lines (the exception message, frames of other files) are kept
    /// verbatim, including their line endings.
    pub fn rewrite_traceback(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        for piece in text.split_inclusive('\n') {
            let (body, ending) = split_line_ending(piece);
            match parse_stdin_frame(body) {
                None => out.push_str(piece),
                Some(frame) => {
                    let probe_frame = frame
                        .function
                        .is_some_and(|name| name.starts_with(PROBE_NAME_PREFIX));
                    let user = self.user_line(frame.line);
                    match user {
                        Some(user) if !probe_frame => {
                            out.push_str(&body[..frame.number_start]);
                            out.push_str(&user.to_string());
                            out.push_str(&body[frame.number_end..]);
                            out.push_str(ending);
                        }
                        // A probe or harness frame: the user must never see it.
                        _ => {}
                    }
                }
            }
        }
        out
    }
}

/// One `File "<stdin>", line N[, in NAME]` frame line, with the byte range of N.
struct StdinFrame<'a> {
    line: u32,
    number_start: usize,
    number_end: usize,
    function: Option<&'a str>,
}

fn split_line_ending(piece: &str) -> (&str, &str) {
    if let Some(body) = piece.strip_suffix("\r\n") {
        (body, "\r\n")
    } else if let Some(body) = piece.strip_suffix('\n') {
        (body, "\n")
    } else {
        (piece, "")
    }
}

fn parse_stdin_frame(line: &str) -> Option<StdinFrame<'_>> {
    const MARKER: &str = "File \"<stdin>\", line ";
    let marker_at = line.find(MARKER)?;
    // Only the indentation may precede the marker, so program output that merely mentions
    // such text mid-line is left alone.
    if !line[..marker_at].chars().all(char::is_whitespace) {
        return None;
    }
    let number_start = marker_at + MARKER.len();
    let digits = line[number_start..]
        .bytes()
        .take_while(u8::is_ascii_digit)
        .count();
    if digits == 0 {
        return None;
    }
    let number_end = number_start + digits;
    let number = line[number_start..number_end].parse().ok()?;
    let rest = &line[number_end..];
    let function = rest.strip_prefix(", in ").map(str::trim_end);
    Some(StdinFrame {
        line: number,
        number_start,
        number_end,
        function,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_maps_each_line_to_itself() {
        let map = LineMap::identity(3);
        assert_eq!(map.user_line(1), Some(1));
        assert_eq!(map.user_line(3), Some(3));
        assert_eq!(map.user_line(0), None);
        assert_eq!(map.user_line(4), None);
    }

    #[test]
    fn inserted_and_harness_lines() {
        let map = LineMap::from_origins(vec![
            LineOrigin::User(1),
            LineOrigin::Probe(1),
            LineOrigin::User(2),
        ])
        .wrapped(2, 1);
        assert_eq!(map.len(), 6);
        assert_eq!(map.user_line(1), None);
        assert_eq!(map.user_line(3), Some(1));
        assert_eq!(map.user_line(4), Some(1));
        assert_eq!(map.user_line(5), Some(2));
        assert_eq!(map.user_line(6), None);
    }

    #[test]
    fn traceback_frames_are_mapped_and_probe_frames_hidden() {
        let map = LineMap::from_origins(vec![
            LineOrigin::User(1),
            LineOrigin::Probe(1),
            LineOrigin::User(2),
            LineOrigin::User(3),
        ])
        .wrapped(1, 0);
        let text = "Traceback (most recent call last):\r\n  File \"<stdin>\", line 5, in <module>\r\n  File \"<stdin>\", line 4, in f\r\n  File \"<stdin>\", line 1, in _hl_p\r\n  File \"lib.py\", line 9, in g\r\nKeyboardInterrupt: \r\n";
        let expected = "Traceback (most recent call last):\r\n  File \"<stdin>\", line 3, in <module>\r\n  File \"<stdin>\", line 2, in f\r\n  File \"lib.py\", line 9, in g\r\nKeyboardInterrupt: \r\n";
        assert_eq!(map.rewrite_traceback(text), expected);
    }

    #[test]
    fn syntax_error_frame_without_function_is_mapped() {
        let map = LineMap::from_origins(vec![LineOrigin::Probe(1), LineOrigin::User(1)]);
        let text = "  File \"<stdin>\", line 2\nSyntaxError: invalid syntax\n";
        assert_eq!(
            map.rewrite_traceback(text),
            "  File \"<stdin>\", line 1\nSyntaxError: invalid syntax\n"
        );
    }

    #[test]
    fn mid_line_mentions_are_not_frames() {
        let map = LineMap::identity(1);
        let text = "x File \"<stdin>\", line 9\n";
        assert_eq!(map.rewrite_traceback(text), text);
    }
}
