//! Budgets kept in the project: `[tool.heaplens]` in `pyproject.toml`, or a `heaplens.toml`
//! (the same keys at its top level).
//!
//! ```toml
//! [tool.heaplens]
//! max-peak = "64K"          # sizes: bytes, "64K", "1.5M"
//! max-after-gc = "48K"
//! min-free-run = "8K"
//! max-line = 4096
//! heap = "128K"             # the simulated Pico's heap for these scripts
//! timeout = 120             # seconds per script (0: no limit)
//! paths = ["main.py", "examples"]   # what `heaplens check` checks without arguments
//!
//! [tool.heaplens.scripts."examples/big.py"]
//! max-peak = "96K"
//! ```
//!
//! Pure: text in, [`Config`] out. Finding and reading the file is `cli/check_cmd.rs`'s.

use std::collections::BTreeMap;

use super::budget::{parse_size, Budgets};

/// Which kind of file the text came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigKind {
    /// `heaplens.toml`: the keys at the top level.
    HeaplensToml,
    /// `pyproject.toml`: the keys under `[tool.heaplens]`.
    Pyproject,
}

/// A configuration that cannot be used; the message names the key and the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("not valid TOML: {0}")]
    Toml(String),
    #[error("{key}: {message}")]
    Value { key: String, message: String },
}

/// Settings for one script (the file's, or a script's own table).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScriptSettings {
    pub budgets: Budgets,
    /// The simulated Pico's heap in bytes.
    pub heap: Option<u64>,
    /// Seconds before a script is stopped (0: no limit).
    pub timeout_seconds: Option<u64>,
}

impl ScriptSettings {
    /// These settings with everything `over` sets replacing ours.
    pub fn overridden_by(self, over: ScriptSettings) -> ScriptSettings {
        ScriptSettings {
            budgets: self.budgets.overridden_by(over.budgets),
            heap: over.heap.or(self.heap),
            timeout_seconds: over.timeout_seconds.or(self.timeout_seconds),
        }
    }
}

/// A project's `heaplens check` configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// Settings for every script.
    pub settings: ScriptSettings,
    /// Scripts and folders to check when none are named (relative to the file's folder).
    pub paths: Vec<String>,
    /// Per-script overrides, keyed by the script's path relative to the file's folder
    /// (`/`-separated).
    pub scripts: BTreeMap<String, ScriptSettings>,
}

impl Config {
    /// The settings of the script at `relative` (to the file's folder): the file's, with
    /// the script's own table over them.
    pub fn settings_for(&self, relative: &str) -> ScriptSettings {
        let key = relative.trim_start_matches("./");
        match self.scripts.get(key) {
            Some(own) => self.settings.overridden_by(*own),
            None => self.settings,
        }
    }
}

/// Reads a configuration. `Ok(None)`: a `pyproject.toml` without `[tool.heaplens]`.
pub fn parse_config(text: &str, kind: ConfigKind) -> Result<Option<Config>, ConfigError> {
    let document: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::Toml(e.message().to_string()))?;
    let (table, prefix) = match kind {
        ConfigKind::HeaplensToml => (document, String::new()),
        ConfigKind::Pyproject => {
            let Some(tool) = document.get("tool") else {
                return Ok(None);
            };
            let Some(heaplens) = tool.as_table().and_then(|t| t.get("heaplens")) else {
                return Ok(None);
            };
            let Some(table) = heaplens.as_table() else {
                return Err(value_error("tool.heaplens", "must be a table"));
            };
            (table.clone(), "tool.heaplens.".to_string())
        }
    };
    let mut config = Config::default();
    for (key, value) in &table {
        let name = format!("{prefix}{key}");
        match key.as_str() {
            "paths" => {
                let list = value
                    .as_array()
                    .ok_or_else(|| value_error(&name, "must be a list of paths"))?;
                for item in list {
                    let path = item
                        .as_str()
                        .ok_or_else(|| value_error(&name, "must be a list of paths"))?;
                    config.paths.push(path.to_string());
                }
            }
            "scripts" => {
                let scripts = value.as_table().ok_or_else(|| {
                    value_error(
                        &name,
                        "must be a table of scripts, e.g. [scripts.\"main.py\"]",
                    )
                })?;
                for (script, settings) in scripts {
                    let script_name = format!("{name}.{script:?}");
                    let settings = settings
                        .as_table()
                        .ok_or_else(|| value_error(&script_name, "must be a table of budgets"))?;
                    let mut own = ScriptSettings::default();
                    for (key, value) in settings {
                        set_setting(&mut own, key, value, &format!("{script_name}.{key}"))?;
                    }
                    let script = script.trim_start_matches("./").replace('\\', "/");
                    config.scripts.insert(script, own);
                }
            }
            _ => set_setting(&mut config.settings, key, value, &name)?,
        }
    }
    Ok(Some(config))
}

fn value_error(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Value {
        key: key.to_string(),
        message: message.into(),
    }
}

/// A value as TOML writes it, for messages.
fn toml_text(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => format!("{s:?}"),
        toml::Value::Integer(n) => n.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        other => format!("a {}", other.type_str()),
    }
}

/// Sets one budget key (or `heap`, `timeout`) from its TOML value.
fn set_setting(
    settings: &mut ScriptSettings,
    key: &str,
    value: &toml::Value,
    name: &str,
) -> Result<(), ConfigError> {
    let size = || -> Result<u64, ConfigError> {
        match value {
            toml::Value::Integer(n) => u64::try_from(*n)
                .map_err(|_| value_error(name, format!("{n} is not a size (negative)"))),
            toml::Value::String(text) => {
                parse_size(text).map_err(|e| value_error(name, e.to_string()))
            }
            other => Err(value_error(
                name,
                format!(
                    "{} is not a size: use bytes (65536), \"64K\" or \"1.5M\"",
                    toml_text(other)
                ),
            )),
        }
    };
    match key {
        "max-peak" => settings.budgets.max_peak = Some(size()?),
        "max-after-gc" => settings.budgets.max_after_gc = Some(size()?),
        "min-free-run" => settings.budgets.min_free_run = Some(size()?),
        "max-line" => settings.budgets.max_line = Some(size()?),
        "heap" => settings.heap = Some(size()?),
        "timeout" => {
            let seconds = value
                .as_integer()
                .and_then(|n| u64::try_from(n).ok())
                .ok_or_else(|| {
                    value_error(
                        name,
                        format!("{} is not a whole number of seconds", toml_text(value)),
                    )
                })?;
            settings.timeout_seconds = Some(seconds);
        }
        _ => {
            return Err(value_error(
                name,
                "unknown key (known: max-peak, max-after-gc, min-free-run, max-line, heap, \
                 timeout, paths, scripts)",
            ))
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pyproject_table_with_a_script_override() {
        let text = r#"
[project]
name = "firmware"

[tool.heaplens]
max-peak = "64K"
max-line = 4096
heap = "128K"
timeout = 30
paths = ["main.py", "examples"]

[tool.heaplens.scripts."examples/big.py"]
max-peak = "1.5M"
min-free-run = "2K"
"#;
        let config = parse_config(text, ConfigKind::Pyproject).unwrap().unwrap();
        assert_eq!(config.paths, ["main.py", "examples"]);
        let main = config.settings_for("main.py");
        assert_eq!(main.budgets.max_peak, Some(65536));
        assert_eq!(main.budgets.max_line, Some(4096));
        assert_eq!(main.budgets.min_free_run, None);
        assert_eq!(main.heap, Some(131072));
        assert_eq!(main.timeout_seconds, Some(30));
        let big = config.settings_for("./examples/big.py");
        assert_eq!(big.budgets.max_peak, Some(1_572_864));
        assert_eq!(big.budgets.min_free_run, Some(2048));
        assert_eq!(big.budgets.max_line, Some(4096));
    }

    #[test]
    fn heaplens_toml_has_the_keys_at_its_top() {
        let text = "max-after-gc = 1000\n[scripts.\"a.py\"]\nmax-after-gc = \"2K\"\n";
        let config = parse_config(text, ConfigKind::HeaplensToml)
            .unwrap()
            .unwrap();
        assert_eq!(config.settings.budgets.max_after_gc, Some(1000));
        assert_eq!(config.settings_for("a.py").budgets.max_after_gc, Some(2048));
    }

    #[test]
    fn a_pyproject_without_the_table_is_no_config() {
        assert_eq!(
            parse_config("[tool.ruff]\nline-length = 99\n", ConfigKind::Pyproject),
            Ok(None)
        );
        assert_eq!(parse_config("", ConfigKind::Pyproject), Ok(None));
    }

    #[test]
    fn errors_name_the_key_and_the_value() {
        let cases = [
            (
                "[tool.heaplens]\nmax-peak = \"64Q\"\n",
                "tool.heaplens.max-peak: \"64Q\" is not a size",
            ),
            (
                "[tool.heaplens]\nmax-peek = \"64K\"\n",
                "tool.heaplens.max-peek: unknown key",
            ),
            (
                "[tool.heaplens.scripts.\"a.py\"]\nmax-line = -5\n",
                "tool.heaplens.scripts.\"a.py\".max-line: -5 is not a size",
            ),
            (
                "[tool.heaplens]\nmax-peak = true\n",
                "tool.heaplens.max-peak: true is not a size",
            ),
            (
                "[tool.heaplens]\ntimeout = 1.5\n",
                "tool.heaplens.timeout: 1.5 is not a whole number of seconds",
            ),
            (
                "[tool.heaplens]\npaths = \"a.py\"\n",
                "tool.heaplens.paths: must be a list",
            ),
            ("[tool.heaplens\n", "not valid TOML"),
        ];
        for (text, start) in cases {
            let err = parse_config(text, ConfigKind::Pyproject)
                .expect_err(text)
                .to_string();
            assert!(err.starts_with(start), "{text:?}: {err}");
        }
    }
}
