//! Every HeapLens setting, defined once: its name, type, default, range and meaning. The
//! extension's `package.json` configuration is generated from these types (see
//! [`super::generated`]), so the editor offers exactly what the server accepts.
//!
//! Settings arrive as `initializationOptions` and in `workspace/didChangeConfiguration`, either
//! as the `heaplens` section itself or wrapped as `{ "heaplens": {…} }` (what
//! vscode-languageclient sends). Each key is applied on its own: a bad value keeps the previous
//! one and is reported back, so the user sees a clear message instead of a silent default.
//! Unknown keys are ignored.

use std::fmt;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::board::BoardSpec;
use crate::diagnose::Thresholds;
use crate::run::runner::Sampling;

/// The smallest and largest `simulatedHeapBytes` the simulated Pico starts with.
pub const SIM_HEAP_MIN: u64 = crate::board::MIN_SIM_HEAP_BYTES as u64;
pub const SIM_HEAP_MAX: u64 = 64 * 1024 * 1024;
/// The longest `runTimeoutSeconds` (a day); 0 means no limit.
pub const RUN_TIMEOUT_MAX_SECONDS: f64 = 86_400.0;

/// Every setting of the `heaplens` section. Field docs are the descriptions users read in the
/// settings editor (Markdown).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct Settings {
    /// Which board runs and captures use: `auto` (the first MicroPython USB board found, else
    /// the simulated Pico), `simulated` (a real MicroPython interpreter run locally), a serial
    /// port path such as `/dev/ttyACM0` or `COM3`, or `id:SERIAL` (a USB serial number).
    pub board: BoardSpec,
    /// Heap size in bytes given to the simulated Pico's interpreter (`-X heapsize=`). The
    /// default gives `GC: total: 232960`, a Pico's heap, of which about 192 KB are free
    /// after the Pico modules it loads at boot.
    pub simulated_heap_bytes: Ranged<SIM_HEAP_MIN, SIM_HEAP_MAX>,
    /// Run a Python file on the board with heap capture each time it is saved. Nothing runs
    /// in an untrusted workspace.
    pub run_on_save: bool,
    /// Soft-reset the board before each run, so every run starts from a fresh heap (as the
    /// board's `main.py` would).
    pub soft_reset_before_run: bool,
    /// Run with the garbage collector disabled: per-line figures are exact allocations, and a
    /// `MemoryError` comes sooner.
    pub exact: bool,
    /// Seconds before a run is stopped (its report so far is kept); `0` means no limit.
    pub run_timeout_seconds: Seconds,
    /// Record which line made each allocation of a run, so clicking a block in the heap map
    /// jumps to its line. Costs a heap dump for each line's first allocating executions.
    pub trace_allocations: bool,
    /// Measure each line's first *N* allocating executions exactly and estimate the later ones
    /// from the bytes they requested (`heaplens run --sample=N`): hot loops then run close to
    /// full speed. Hits are always exact. `0` measures every execution (exact bytes, slower
    /// for hot loops); `"auto"` is 64.
    pub sample_executions: SampleExecutions,
    /// Milliseconds between two samples of the heap timeline while a script runs (the heap
    /// map's plot of heap use over time; `heaplens run --timeline-ms`). `0` takes no samples.
    pub timeline_interval_ms: Ranged<0, 3_600_000>,
    /// When diagnostics and editor marks appear.
    pub thresholds: ThresholdSettings,
    /// Show the HeapLens output channel when a run ends with an exception.
    pub reveal_output_on_error: bool,
    /// The language server binary (read by the extension only).
    pub server: ServerSettings,
    /// The simulated Pico's interpreter (read by the extension only).
    pub simulator: SimulatorSettings,
    /// How much the server logs to its output channel (`off`, `error`, `warn`, `info`,
    /// `debug`, `trace`; `trace` includes every raw-REPL exchange with the board).
    pub trace: TraceSettings,
}

/// `heaplens.thresholds.*`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct ThresholdSettings {
    /// A line that allocates at least this many bytes in one run gets a warning diagnostic.
    pub line_bytes: u64,
    /// A line that allocates at least this many bytes gets a heat mark in the gutter and an
    /// inline note with its figures.
    pub hint_bytes: u64,
    /// Warn when a run shrinks the longest free run of the heap by more than this percentage
    /// (measured after a final `gc.collect()`).
    pub fragmentation_percent: Percent,
}

/// `heaplens.server.*` (client side).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct ServerSettings {
    /// Path to the `heaplens` binary. Empty: the one bundled with the extension, else
    /// `heaplens` on `PATH`.
    #[schemars(extend("scope" = "machine-overridable"))]
    pub path: String,
}

/// `heaplens.simulator.*` (client side).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct SimulatorSettings {
    /// Path to the MicroPython unix interpreter used as the simulated Pico (given to the
    /// server as `HEAPLENS_MICROPYTHON`). Empty: the server's default.
    #[schemars(extend("scope" = "machine-overridable"))]
    pub path: String,
}

/// `heaplens.trace.*`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct TraceSettings {
    /// Log level of the language server (its output channel): `off`, `error`, `warn`,
    /// `info`, `debug` or `trace` (every raw-REPL exchange).
    pub server: LogLevel,
}

/// How much the server logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)]
pub enum LogLevel {
    Off,
    Error,
    #[default]
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    /// The `tracing` filter directive for this level.
    pub fn directive(self) -> &'static str {
        match self {
            LogLevel::Off => "off",
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            board: BoardSpec::Auto,
            simulated_heap_bytes: Ranged(crate::board::DEFAULT_SIM_HEAP_BYTES as u64),
            run_on_save: true,
            soft_reset_before_run: true,
            exact: false,
            run_timeout_seconds: Seconds(60.0),
            trace_allocations: true,
            sample_executions: SampleExecutions::Auto,
            timeline_interval_ms: Ranged(u64::from(crate::run::timeline::DEFAULT_SAMPLE_EVERY_MS)),
            thresholds: ThresholdSettings::default(),
            reveal_output_on_error: true,
            server: ServerSettings::default(),
            simulator: SimulatorSettings::default(),
            trace: TraceSettings::default(),
        }
    }
}

impl Default for ThresholdSettings {
    fn default() -> Self {
        let diagnose = Thresholds::default();
        ThresholdSettings {
            line_bytes: diagnose.line_bytes,
            hint_bytes: 1024,
            fragmentation_percent: Percent(diagnose.fragmentation_percent),
        }
    }
}

impl Settings {
    /// Applies `value` (the section, or `{ "heaplens": section }`) on top of `self`, key by
    /// key; returns one message per rejected value (which keeps its previous value).
    pub fn apply(&mut self, value: &Value) -> Vec<String> {
        let section = value.get("heaplens").unwrap_or(value);
        let Some(map) = section.as_object() else {
            return if section.is_null() {
                Vec::new()
            } else {
                vec![format!(
                    "HeapLens settings must be an object, got {section}"
                )]
            };
        };
        let mut errors = Vec::new();
        let mut leaves = Vec::new();
        collect_leaves(map, &mut Vec::new(), &mut leaves);
        for (path, v) in leaves {
            let mut candidate = serde_json::to_value(&*self).unwrap_or(Value::Null);
            if !set_path(&mut candidate, &path, v.clone()) {
                continue; // not a setting: ignored
            }
            match serde_json::from_value::<Settings>(candidate) {
                Ok(next) => *self = next,
                Err(e) => errors.push(format!("heaplens.{}: {e}", path.join("."))),
            }
        }
        errors
    }

    /// The run timeout (`None`: no limit).
    pub fn run_timeout(&self) -> Option<Duration> {
        let seconds = self.run_timeout_seconds.0;
        (seconds > 0.0).then(|| Duration::from_secs_f64(seconds))
    }

    /// The heap timeline's interval (`None`: no timeline).
    pub fn timeline_interval_ms(&self) -> Option<u32> {
        u32::try_from(self.timeline_interval_ms.0)
            .ok()
            .filter(|&ms| ms > 0)
    }

    /// The thresholds diagnostics use.
    pub fn diagnose_thresholds(&self) -> Thresholds {
        Thresholds {
            line_bytes: self.thresholds.line_bytes,
            fragmentation_percent: self.thresholds.fragmentation_percent.0,
        }
    }

    /// The simulated Pico's heap in bytes.
    pub fn sim_heap_bytes(&self) -> usize {
        usize::try_from(self.simulated_heap_bytes.0).unwrap_or(usize::MAX)
    }
}

/// Every leaf `(path, value)` under `map`; objects are walked into, other values are leaves.
fn collect_leaves<'a>(
    map: &'a serde_json::Map<String, Value>,
    prefix: &mut Vec<String>,
    out: &mut Vec<(Vec<String>, &'a Value)>,
) {
    for (key, value) in map {
        prefix.push(key.clone());
        match value.as_object() {
            Some(inner) => collect_leaves(inner, prefix, out),
            None => out.push((prefix.clone(), value)),
        }
        prefix.pop();
    }
}

/// Sets `path` in the settings object `root` when that path names a setting.
fn set_path(root: &mut Value, path: &[String], value: Value) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut node = root;
    for key in parents {
        match node.get_mut(key) {
            Some(inner) if inner.is_object() => node = inner,
            _ => return false,
        }
    }
    match node.as_object_mut() {
        Some(object) if object.contains_key(last) => {
            object.insert(last.clone(), value);
            true
        }
        _ => false,
    }
}

/// `heaplens.sampleExecutions`: `"auto"` or a number of measured executions (0 = every one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SampleExecutions {
    #[default]
    Auto,
    Count(u32),
}

/// The largest per-body probe budget (the probes keep it in a small int).
pub const SAMPLE_MAX: u32 = u32::MAX >> 2;

impl SampleExecutions {
    /// The runner's sampling mode.
    pub fn sampling(self) -> Sampling {
        match self {
            SampleExecutions::Auto => Sampling::Auto,
            SampleExecutions::Count(0) => Sampling::Every,
            SampleExecutions::Count(n) => Sampling::Sample(n),
        }
    }
}

impl Serialize for SampleExecutions {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            SampleExecutions::Auto => serializer.serialize_str("auto"),
            SampleExecutions::Count(n) => serializer.serialize_u32(*n),
        }
    }
}

impl<'de> Deserialize<'de> for SampleExecutions {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        match &value {
            Value::String(s) if s == "auto" => Ok(SampleExecutions::Auto),
            Value::Number(n) => match n.as_u64() {
                Some(n) if n <= u64::from(SAMPLE_MAX) => Ok(SampleExecutions::Count(n as u32)),
                _ => Err(serde::de::Error::custom(format!(
                    "must be \"auto\" or a whole number from 0 to {SAMPLE_MAX}, got {value}"
                ))),
            },
            _ => Err(serde::de::Error::custom(format!(
                "must be \"auto\" or a whole number ≥ 0 (0 = probe every execution), got {value}"
            ))),
        }
    }
}

impl JsonSchema for SampleExecutions {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SampleExecutions".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "anyOf": [
                { "type": "string", "enum": ["auto"] },
                { "type": "integer", "minimum": 0, "maximum": SAMPLE_MAX }
            ]
        })
    }

    fn inline_schema() -> bool {
        true
    }
}

/// A whole number in `MIN..=MAX`; anything else is rejected with a message naming the range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Ranged<const MIN: u64, const MAX: u64>(pub u64);

impl<'de, const MIN: u64, const MAX: u64> Deserialize<'de> for Ranged<MIN, MAX> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        match value.as_u64() {
            Some(n) if (MIN..=MAX).contains(&n) => Ok(Ranged(n)),
            _ => Err(serde::de::Error::custom(format!(
                "must be a whole number from {MIN} to {MAX}, got {value}"
            ))),
        }
    }
}

impl<const MIN: u64, const MAX: u64> JsonSchema for Ranged<MIN, MAX> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("Ranged_{MIN}_{MAX}").into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "integer", "minimum": MIN, "maximum": MAX })
    }

    fn inline_schema() -> bool {
        true
    }
}

/// Declares a finite `f64` setting type limited to a range.
macro_rules! bounded_number {
    ($(#[$doc:meta])* $name:ident, $min:expr, $max:expr, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Serialize)]
        #[serde(transparent)]
        pub struct $name(pub f64);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = Value::deserialize(deserializer)?;
                match value.as_f64() {
                    Some(x) if x.is_finite() && ($min..=$max).contains(&x) => Ok($name(x)),
                    _ => Err(serde::de::Error::custom(format!(
                        concat!("must be ", $what, " from {} to {}, got {}"),
                        $min, $max, value
                    ))),
                }
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({ "type": "number", "minimum": $min, "maximum": $max })
            }

            fn inline_schema() -> bool {
                true
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

bounded_number!(
    /// Seconds from 0 to a day.
    Seconds,
    0.0,
    RUN_TIMEOUT_MAX_SECONDS,
    "a number of seconds"
);
bounded_number!(
    /// A percentage.
    Percent,
    0.0,
    100.0,
    "a percentage"
);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wrapped_and_bare_sections_apply_key_by_key() {
        let mut s = Settings::default();
        assert!(s
            .apply(&json!({"heaplens": {"board": "simulated", "runOnSave": false}}))
            .is_empty());
        assert_eq!(
            (s.board.clone(), s.run_on_save),
            (BoardSpec::Simulated, false)
        );
        assert!(s
            .apply(&json!({"board": "/dev/ttyACM0", "thresholds": {"lineBytes": 100}}))
            .is_empty());
        assert_eq!(s.board, BoardSpec::Path("/dev/ttyACM0".into()));
        assert_eq!(s.thresholds.line_bytes, 100);
        assert_eq!(s.thresholds.hint_bytes, 1024, "a sibling keeps its value");
        assert!(s.apply(&json!({"traceAllocations": false})).is_empty());
        assert!(!s.trace_allocations);
        assert_eq!(s.apply(&json!({"traceAllocations": 1})).len(), 1);
        assert!(!s.trace_allocations);
        assert!(s.apply(&json!({"sampleExecutions": 64})).is_empty());
        assert_eq!(s.sample_executions.sampling(), Sampling::Sample(64));
        assert_eq!(s.apply(&json!({"sampleExecutions": -1})).len(), 1);
        assert_eq!(s.apply(&json!({"sampleExecutions": "often"})).len(), 1);
        assert_eq!(s.sample_executions.sampling(), Sampling::Sample(64));
        assert!(s.apply(&json!({"sampleExecutions": 0})).is_empty());
        assert_eq!(s.sample_executions.sampling(), Sampling::Every);
        assert!(s.apply(&json!({"sampleExecutions": "auto"})).is_empty());
        assert!(s
            .apply(&json!({"server": {"path": "/x/heaplens"}, "unknown": 3, "trace": {"server": "trace"}}))
            .is_empty());
        assert_eq!(s.server.path, "/x/heaplens");
        assert_eq!(s.trace.server, LogLevel::Trace);
    }

    #[test]
    fn bad_values_are_reported_by_name_and_keep_the_old_value() {
        let mut s = Settings::default();
        let errors = s.apply(&json!({
            "board": "banana", "simulatedHeapBytes": 4096, "runOnSave": "yes",
            "thresholds": {"fragmentationPercent": 300},
        }));
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors
            .iter()
            .any(|e| e.contains("heaplens.board: \"banana\" is not")));
        assert!(errors.iter().any(|e| e
            == "heaplens.simulatedHeapBytes: must be a whole number from 65536 to 67108864, got 4096"));
        assert_eq!(s, Settings::default());
        assert_eq!(s.apply(&json!(42)).len(), 1);
        assert!(s.apply(&Value::Null).is_empty());
    }

    #[test]
    fn timeouts_that_are_not_finite_seconds_are_rejected() {
        let mut s = Settings::default();
        for bad in [json!(1e300), json!(-1), json!("inf"), json!(86_401)] {
            assert_eq!(
                s.apply(&json!({ "runTimeoutSeconds": bad })).len(),
                1,
                "{bad}"
            );
        }
        assert_eq!(s.run_timeout(), Some(Duration::from_secs(60)));
        assert!(s.apply(&json!({ "runTimeoutSeconds": 0 })).is_empty());
        assert_eq!(s.run_timeout(), None);
        assert!(s.apply(&json!({ "runTimeoutSeconds": 2.5 })).is_empty());
        assert_eq!(s.run_timeout(), Some(Duration::from_millis(2500)));
    }
}
