//! Reading MicroPython tracebacks: the text the board prints between the two `\x04` of a
//! raw-REPL exec.
//!
//! ```text
//! Traceback (most recent call last):
//!   File "<stdin>", line 14, in <module>
//!   File "<stdin>", line 6, in parse
//! ValueError: invalid syntax for integer with base 10: 'three'
//! ```
//!
//! A `SyntaxError` has one frame and no function name. A MemoryError whose message could not
//! be allocated has no message at all (facts §1.6), so every part but the exception type is
//! optional.

use serde::Serialize;

/// One `File "…", line N, in f` line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Frame {
    /// The file as the board names it: `<stdin>` for the submitted script.
    pub file: String,
    /// The line as the board printed it (1-based, in the submitted text).
    pub line: u32,
    /// The function, when the board printed one (`<module>` at top level).
    pub function: Option<String>,
}

/// A parsed traceback, outermost frame first (the order MicroPython prints).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Traceback {
    pub frames: Vec<Frame>,
    /// `MemoryError`, `ValueError`, `KeyboardInterrupt`, …
    pub exception: String,
    /// Text after `Type: `; empty when the exception carries no message.
    pub message: String,
}

impl Traceback {
    /// Reads the traceback text. Lines before `Traceback (most recent call last):` (output that
    /// leaked into the error part) are skipped. Returns `None` when no exception line is found.
    pub fn parse(text: &str) -> Option<Traceback> {
        let mut frames = Vec::new();
        let mut last_exception: Option<(String, String)> = None;
        for raw in text.lines() {
            let line = raw.trim_end_matches('\r');
            if line.starts_with("Traceback (most recent call last)") {
                frames.clear();
                last_exception = None;
                continue;
            }
            if let Some(frame) = parse_frame(line) {
                frames.push(frame);
                continue;
            }
            if let Some(exc) = parse_exception_line(line) {
                last_exception = Some(exc);
            }
        }
        let (exception, message) = last_exception?;
        Some(Traceback {
            frames,
            exception,
            message,
        })
    }

    /// The final line as the board printed it, e.g. `MemoryError: memory allocation failed, …`.
    pub fn exception_line(&self) -> String {
        if self.message.is_empty() {
            self.exception.clone()
        } else {
            format!("{}: {}", self.exception, self.message)
        }
    }
}

fn parse_frame(line: &str) -> Option<Frame> {
    let rest = line.trim_start().strip_prefix("File \"")?;
    let (file, rest) = rest.split_once('"')?;
    let rest = rest.strip_prefix(", line ")?;
    let digits_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let line_no: u32 = rest[..digits_end].parse().ok()?;
    let function = rest[digits_end..]
        .strip_prefix(", in ")
        .map(|f| f.trim().to_string());
    Some(Frame {
        file: file.to_string(),
        line: line_no,
        function,
    })
}

/// `Name: message` or a bare `Name` where Name looks like an exception class.
fn parse_exception_line(line: &str) -> Option<(String, String)> {
    if line.starts_with(' ') || line.is_empty() {
        return None;
    }
    let (name, message) = match line.split_once(':') {
        Some((name, message)) => (name, message.strip_prefix(' ').unwrap_or(message)),
        None => (line, ""),
    };
    let name = name.trim();
    let looks_like_class = name.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    looks_like_class.then(|| (name.to_string(), message.trim_end().to_string()))
}

/// What a MemoryError message says (facts §1.6: three forms, plus the heap-locked one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryErrorKind {
    /// `memory allocation failed, allocating N bytes`.
    Allocating { bytes: u64 },
    /// `memory allocation failed, heap is locked`.
    HeapLocked,
    /// The message itself could not be allocated (`… allocating %u bytes`, or no message).
    Unknown,
}

impl MemoryErrorKind {
    /// Classifies a MemoryError message (the text after `MemoryError: `).
    pub fn from_message(message: &str) -> MemoryErrorKind {
        if message.contains("heap is locked") {
            return MemoryErrorKind::HeapLocked;
        }
        let Some(rest) = message.split("allocating ").nth(1) else {
            return MemoryErrorKind::Unknown;
        };
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        match digits.parse() {
            Ok(bytes) => MemoryErrorKind::Allocating { bytes },
            Err(_) => MemoryErrorKind::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_frames_outermost_first() {
        let text = "Traceback (most recent call last):\r\n  File \"<stdin>\", line 14, in <module>\r\n  File \"<stdin>\", line 11, in main\r\n  File \"<stdin>\", line 6, in parse\r\nValueError: invalid syntax for integer with base 10: 'three'\r\n";
        let tb = Traceback::parse(text).expect("parses");
        let lines: Vec<u32> = tb.frames.iter().map(|f| f.line).collect();
        assert_eq!(lines, [14, 11, 6]);
        assert_eq!(tb.exception, "ValueError");
        assert_eq!(
            tb.message,
            "invalid syntax for integer with base 10: 'three'"
        );
        assert_eq!(tb.frames[2].function.as_deref(), Some("parse"));
    }

    #[test]
    fn syntax_error_has_frame_without_function() {
        let tb = Traceback::parse("Traceback (most recent call last):\n  File \"<stdin>\", line 4\nSyntaxError: invalid syntax\n").unwrap();
        assert_eq!(
            tb.frames,
            [Frame {
                file: "<stdin>".into(),
                line: 4,
                function: None
            }]
        );
        assert_eq!(tb.exception_line(), "SyntaxError: invalid syntax");
    }

    #[test]
    fn memory_error_forms() {
        assert_eq!(
            MemoryErrorKind::from_message("memory allocation failed, allocating 98305 bytes"),
            MemoryErrorKind::Allocating { bytes: 98305 }
        );
        assert_eq!(
            MemoryErrorKind::from_message("memory allocation failed, heap is locked"),
            MemoryErrorKind::HeapLocked
        );
        assert_eq!(
            MemoryErrorKind::from_message("memory allocation failed, allocating %u bytes"),
            MemoryErrorKind::Unknown
        );
        assert_eq!(MemoryErrorKind::from_message(""), MemoryErrorKind::Unknown);
        let bare = Traceback::parse("Traceback (most recent call last):\n  File \"<stdin>\", line 3, in <module>\nMemoryError: \n").unwrap();
        assert_eq!(
            (bare.exception.as_str(), bare.message.as_str()),
            ("MemoryError", "")
        );
        let no_colon = Traceback::parse("Traceback (most recent call last):\n  File \"<stdin>\", line 3, in <module>\nMemoryError\n").unwrap();
        assert_eq!(no_colon.exception_line(), "MemoryError");
    }

    #[test]
    fn keyboard_interrupt_and_garbage() {
        let tb = Traceback::parse("Traceback (most recent call last):\n  File \"<stdin>\", line 7, in <module>\nKeyboardInterrupt: \n").unwrap();
        assert_eq!(tb.exception, "KeyboardInterrupt");
        assert!(Traceback::parse("").is_none());
        assert!(Traceback::parse("  File \"x\", line zz\n\u{fffd}\u{0}").is_none());
    }
}
