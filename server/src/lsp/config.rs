//! Editor settings (`initializationOptions` and `workspace/didChangeConfiguration`), validated.
//!
//! Settings arrive either as the `heaplens` section itself or wrapped as `{ "heaplens": {…} }`
//! (what vscode-languageclient sends). Unknown keys are ignored; a bad value keeps the previous
//! value and is reported back so the user sees a clear message instead of a silent default.

use serde_json::Value;

use crate::diagnose::Thresholds;
use crate::run::runner::Sampling;

/// Which board runs use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BoardSetting {
    /// A detected MicroPython board, else the simulated Pico.
    Auto,
    Simulated,
    /// A port path (`/dev/ttyACM0`, a pty) or `id:SERIAL`.
    Port(String),
}

impl BoardSetting {
    /// The `--board` spelling of the CLI.
    pub fn as_cli(&self) -> &str {
        match self {
            BoardSetting::Auto => "auto",
            BoardSetting::Simulated => "sim",
            BoardSetting::Port(p) => p,
        }
    }
}

/// Every setting the server honours.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub board: BoardSetting,
    pub simulated_heap_bytes: usize,
    pub run_on_save: bool,
    pub soft_reset_before_run: bool,
    /// Run with the collector disabled (exact deltas, earlier MemoryError).
    pub exact: bool,
    /// Seconds before a run is interrupted; 0 = never.
    pub run_timeout_seconds: f64,
    pub thresholds: Thresholds,
    /// Lines allocating at least this much get an inlay hint and a decoration.
    pub hint_min_bytes: u64,
    /// Trace which line made each allocation (the heap map's click-to-line).
    pub trace_allocations: bool,
    /// `sampleExecutions`: "auto", 0 (every execution) or N.
    pub sampling: Sampling,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            board: BoardSetting::Auto,
            simulated_heap_bytes: 194_300,
            run_on_save: true,
            soft_reset_before_run: true,
            exact: false,
            run_timeout_seconds: 60.0,
            thresholds: Thresholds::default(),
            hint_min_bytes: 1,
            trace_allocations: true,
            sampling: Sampling::Auto,
        }
    }
}

impl Settings {
    /// Applies `value` on top of `self`; returns one message per rejected setting.
    pub fn apply(&mut self, value: &Value) -> Vec<String> {
        let mut errors = Vec::new();
        let section = match value.get("heaplens") {
            Some(inner) => inner,
            None => value,
        };
        let Some(map) = section.as_object() else {
            if !section.is_null() {
                errors.push(format!(
                    "HeapLens settings must be an object, got {section}"
                ));
            }
            return errors;
        };
        for (key, v) in map {
            let result = match key.as_str() {
                "board" => parse_board(v).map(|b| self.board = b),
                "simulatedHeapBytes" => match v.as_u64() {
                    Some(n) if (16 * 1024..=64 * 1024 * 1024).contains(&n) => {
                        self.simulated_heap_bytes = n as usize;
                        Ok(())
                    }
                    _ => Err(format!(
                        "heaplens.simulatedHeapBytes must be a number of bytes between 16384 and 67108864, got {v}"
                    )),
                },
                "runOnSave" => bool_setting(key, v).map(|b| self.run_on_save = b),
                "softResetBeforeRun" => bool_setting(key, v).map(|b| self.soft_reset_before_run = b),
                "exact" => bool_setting(key, v).map(|b| self.exact = b),
                "traceAllocations" => {
                    bool_setting(key, v).map(|b| self.trace_allocations = b)
                }
                "sampleExecutions" => match (v.as_str(), v.as_u64()) {
                    (Some("auto"), _) => {
                        self.sampling = Sampling::Auto;
                        Ok(())
                    }
                    (_, Some(0)) => {
                        self.sampling = Sampling::Every;
                        Ok(())
                    }
                    (_, Some(n)) if n <= u64::from(u32::MAX >> 2) => {
                        self.sampling = Sampling::Sample(n as u32);
                        Ok(())
                    }
                    _ => Err(format!(
                        "heaplens.sampleExecutions must be \"auto\" or a whole number ≥ 0 (0 = probe every execution), got {v}"
                    )),
                },
                "runTimeoutSeconds" => match v.as_f64() {
                    Some(s) if s >= 0.0 && s.is_finite() => {
                        self.run_timeout_seconds = s;
                        Ok(())
                    }
                    _ => Err(format!("heaplens.runTimeoutSeconds must be a number ≥ 0, got {v}")),
                },
                "thresholds" => self.apply_thresholds(v),
                _ => Ok(()),
            };
            if let Err(e) = result {
                errors.push(e);
            }
        }
        errors
    }

    fn apply_thresholds(&mut self, v: &Value) -> Result<(), String> {
        let Some(map) = v.as_object() else {
            return Err(format!("heaplens.thresholds must be an object, got {v}"));
        };
        let mut errors = Vec::new();
        for (key, v) in map {
            match key.as_str() {
                "lineBytes" => match v.as_u64() {
                    Some(n) => self.thresholds.line_bytes = n,
                    None => errors.push(format!("heaplens.thresholds.lineBytes must be a whole number of bytes, got {v}")),
                },
                "fragmentationPercent" => match v.as_f64() {
                    Some(p) if (0.0..=100.0).contains(&p) => self.thresholds.fragmentation_percent = p,
                    _ => errors.push(format!(
                        "heaplens.thresholds.fragmentationPercent must be between 0 and 100, got {v}"
                    )),
                },
                "hintBytes" => match v.as_u64() {
                    Some(n) => self.hint_min_bytes = n,
                    None => errors.push(format!("heaplens.thresholds.hintBytes must be a whole number of bytes, got {v}")),
                },
                _ => {}
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}

fn bool_setting(key: &str, v: &Value) -> Result<bool, String> {
    v.as_bool()
        .ok_or_else(|| format!("heaplens.{key} must be true or false, got {v}"))
}

fn parse_board(v: &Value) -> Result<BoardSetting, String> {
    let Some(s) = v.as_str() else {
        return Err(format!(
            "heaplens.board must be \"auto\", \"simulated\" or a port path, got {v}"
        ));
    };
    match s.trim() {
        "" | "auto" => Ok(BoardSetting::Auto),
        "sim" | "simulated" => Ok(BoardSetting::Simulated),
        p if p.starts_with('/') || p.starts_with("id:") || p.starts_with("COM") => Ok(BoardSetting::Port(p.to_string())),
        other => Err(format!(
            "heaplens.board: \"{other}\" is not \"auto\", \"simulated\", a port path like /dev/ttyACM0 or id:SERIAL"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wrapped_and_bare_sections() {
        let mut s = Settings::default();
        assert!(s
            .apply(&json!({"heaplens": {"board": "simulated", "runOnSave": false}}))
            .is_empty());
        assert_eq!(
            (s.board.clone(), s.run_on_save),
            (BoardSetting::Simulated, false)
        );
        assert!(s
            .apply(&json!({"board": "/dev/ttyACM0", "thresholds": {"lineBytes": 100}}))
            .is_empty());
        assert_eq!(s.board, BoardSetting::Port("/dev/ttyACM0".into()));
        assert_eq!(s.thresholds.line_bytes, 100);
        assert!(s.trace_allocations);
        assert!(s.apply(&json!({"traceAllocations": false})).is_empty());
        assert!(!s.trace_allocations);
        assert_eq!(s.apply(&json!({"traceAllocations": 1})).len(), 1);
        assert!(!s.trace_allocations);
        assert_eq!(s.sampling, Sampling::Auto);
        assert!(s.apply(&json!({"sampleExecutions": 64})).is_empty());
        assert_eq!(s.sampling, Sampling::Sample(64));
        assert_eq!(s.apply(&json!({"sampleExecutions": -1})).len(), 1);
        assert_eq!(s.apply(&json!({"sampleExecutions": "often"})).len(), 1);
        assert_eq!(s.sampling, Sampling::Sample(64));
        assert!(s.apply(&json!({"sampleExecutions": 0})).is_empty());
        assert_eq!(s.sampling, Sampling::Every);
        assert!(s.apply(&json!({"sampleExecutions": "auto"})).is_empty());
        assert_eq!(s.sampling, Sampling::Auto);
    }

    #[test]
    fn bad_values_are_reported_and_keep_the_old_value() {
        let mut s = Settings::default();
        let errors = s.apply(
            &json!({"board": "banana", "simulatedHeapBytes": -3, "runOnSave": "yes",
            "thresholds": {"fragmentationPercent": 300}}),
        );
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors.iter().any(|e| e.contains("\"banana\" is not")));
        assert_eq!(s, Settings::default());
        assert_eq!(s.apply(&json!(42)).len(), 1);
        assert!(s.apply(&Value::Null).is_empty());
    }
}
