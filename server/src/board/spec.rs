//! Which board to talk to, as the user spells it: one grammar for the CLI's `--board` and the
//! editor's `heaplens.board` setting.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// Which board to talk to. Parsed from text by [`FromStr`] and written back by [`fmt::Display`]
/// (the two round-trip), so the CLI, the settings and the board picker share one spelling.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum BoardSpec {
    /// `auto`: the best detected MicroPython board, else the simulated Pico. Resolved each time
    /// the board is opened (see [`super::connector::connector_for`]), so a board plugged in
    /// later is found by the next open.
    #[default]
    Auto,
    /// `sim` or `simulated`: the simulated Pico.
    Simulated,
    /// A serial port or pty path (`/dev/ttyACM0`, `COM3`).
    Path(PathBuf),
    /// `id:SERIAL`: the USB device with this serial number.
    SerialNumber(String),
}

/// A board string that is none of the accepted forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "\"{0}\" is not a board: use \"auto\", \"simulated\", a port path like /dev/ttyACM0 or COM3, \
     or id:SERIAL"
)]
pub struct BoardSpecError(pub String);

impl FromStr for BoardSpec {
    type Err = BoardSpecError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        match text {
            "" | "auto" => Ok(BoardSpec::Auto),
            "sim" | "simulated" => Ok(BoardSpec::Simulated),
            _ => {
                if let Some(serial) = text.strip_prefix("id:") {
                    return if serial.is_empty() {
                        Err(BoardSpecError(text.to_string()))
                    } else {
                        Ok(BoardSpec::SerialNumber(serial.to_string()))
                    };
                }
                // A path names a device: absolute or explicitly relative on Unix, `COMn` or
                // `\\.\COMn` on Windows. A bare word is more likely a typo than a file here.
                let is_path = text.starts_with('/')
                    || text.starts_with("./")
                    || text.starts_with("../")
                    || text.starts_with(r"\\.\")
                    || (text.len() > 3
                        && text[..3].eq_ignore_ascii_case("com")
                        && text[3..].bytes().all(|b| b.is_ascii_digit()));
                if is_path {
                    Ok(BoardSpec::Path(PathBuf::from(text)))
                } else {
                    Err(BoardSpecError(text.to_string()))
                }
            }
        }
    }
}

impl fmt::Display for BoardSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BoardSpec::Auto => f.write_str("auto"),
            BoardSpec::Simulated => f.write_str("simulated"),
            BoardSpec::Path(path) => write!(f, "{}", path.display()),
            BoardSpec::SerialNumber(serial) => write!(f, "id:{serial}"),
        }
    }
}

impl serde::Serialize for BoardSpec {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for BoardSpec {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for BoardSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "BoardSpec".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "`auto`, `simulated`, a port path such as `/dev/ttyACM0` or `COM3`, or `id:SERIAL`."
        })
    }

    fn inline_schema() -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_parses_and_round_trips() {
        let cases = [
            ("auto", BoardSpec::Auto),
            ("simulated", BoardSpec::Simulated),
            (
                "id:E6614C311B",
                BoardSpec::SerialNumber("E6614C311B".into()),
            ),
            ("/dev/ttyACM0", BoardSpec::Path("/dev/ttyACM0".into())),
            ("COM3", BoardSpec::Path("COM3".into())),
        ];
        for (text, spec) in cases {
            assert_eq!(text.parse::<BoardSpec>(), Ok(spec.clone()), "{text}");
            assert_eq!(spec.to_string(), text);
        }
        assert_eq!("".parse::<BoardSpec>(), Ok(BoardSpec::Auto));
        assert_eq!(" sim ".parse::<BoardSpec>(), Ok(BoardSpec::Simulated));
        assert_eq!(
            "./link".parse::<BoardSpec>(),
            Ok(BoardSpec::Path("./link".into()))
        );
    }

    #[test]
    fn a_bare_word_or_an_empty_serial_is_an_error_that_names_it() {
        for bad in ["banana", "id:", "COMX", "ttyACM0"] {
            let err = bad.parse::<BoardSpec>().expect_err(bad);
            assert!(err.to_string().starts_with(&format!("\"{bad}\"")), "{err}");
        }
    }
}
