//! Files generated from the Rust definitions, checked in, and tested for staleness:
//!
//! - `extension/package.json`: `contributes.configuration` (every setting with its default,
//!   range and description) and `capabilities.untrustedWorkspaces.restrictedConfigurations`,
//!   from [`Settings`];
//! - `extension/src/generated/protocol.schema.json`: the JSON Schema of every wire type, the
//!   custom methods and the commands, from [`super::ext`]. The extension turns it into
//!   `protocol.ts` with json-schema-to-typescript (`npm run generate`), and its own test checks
//!   that `protocol.ts` is fresh.
//!
//! A stale file fails `generated_files_are_fresh`; `UPDATE_GENERATED=1 cargo test --lib
//! generated` rewrites them (as rust-analyzer's sourcegen tests do).

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{json, Map, Value};

use super::ext;
use super::settings::Settings;

/// Marks a setting that an untrusted workspace may not change (it could make HeapLens run
/// code or programs from the workspace).
pub const RESTRICTED: &[&str] = &[
    "heaplens.runOnSave",
    "heaplens.server.path",
    "heaplens.simulator.path",
];

/// The `contributes.configuration` object of `package.json`.
pub fn package_configuration() -> Value {
    let generator = SchemaSettings::draft07()
        .with(|s| s.inline_subschemas = true)
        .into_generator();
    let schema = generator.into_root_schema_for::<Settings>();
    let defaults = serde_json::to_value(Settings::default()).unwrap_or(Value::Null);
    let mut properties = Map::new();
    flatten(schema.as_value(), &defaults, "heaplens", &mut properties);
    json!({ "title": "HeapLens", "properties": properties })
}

/// Adds one `heaplens.a.b` property per leaf setting of `schema` to `out`.
fn flatten(schema: &Value, defaults: &Value, prefix: &str, out: &mut Map<String, Value>) {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (key, property) in props {
        let name = format!("{prefix}.{key}");
        let default = defaults.get(key).cloned().unwrap_or(Value::Null);
        if property.get("properties").is_some() {
            flatten(property, &default, &name, out);
            continue;
        }
        let mut entry = Map::new();
        for field in ["type", "minimum", "maximum", "enum", "anyOf", "scope"] {
            if let Some(v) = property.get(field) {
                entry.insert(field.to_string(), v.clone());
            }
        }
        // VS Code's settings editor wants a `type`; a union says it through its members.
        if !entry.contains_key("type") {
            if let Some(members) = property.get("anyOf").and_then(Value::as_array) {
                let types: Vec<Value> = members
                    .iter()
                    .filter_map(|m| m.get("type").cloned())
                    .collect();
                entry.insert("type".into(), Value::Array(types));
            }
        }
        entry.insert("default".into(), default);
        if let Some(description) = property.get("description").and_then(Value::as_str) {
            entry.insert(
                "markdownDescription".into(),
                Value::String(unwrap_doc(description)),
            );
        }
        out.insert(name, Value::Object(entry));
    }
}

/// Doc comments arrive with their line breaks; a settings description reads as one paragraph.
fn unwrap_doc(text: &str) -> String {
    text.split("\n\n")
        .map(|paragraph| paragraph.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// The JSON Schema of every wire type, with the custom methods and commands.
pub fn protocol_schema() -> Value {
    // The serialize contract: a field the server always sends is required (`T | null` for an
    // `Option`), so clients do not have to guard against `undefined` as well.
    let mut generator: SchemaGenerator = SchemaSettings::draft07().for_serialize().into_generator();
    let mut roots = Map::new();
    macro_rules! root {
        ($($t:ty),* $(,)?) => {
            $(
                let schema = generator.subschema_for::<$t>();
                roots.insert(<$t as JsonSchema>::schema_name().into_owned(), schema.to_value());
            )*
        };
    }
    root!(
        ext::SnapshotParams,
        ext::TimelineParams,
        ext::DecorationsParams,
        ext::BoardStatusParams,
        ext::OutputParams,
        ext::JobFinishedParams,
        ext::JobStartedParams,
        ext::ReplStateParams,
        ext::ReplTextParams,
        ext::ClearSnapshotsResult,
        ext::CloseReplResult,
        ext::ListSnapshotsParams,
        ext::ListSnapshotsResult,
        ext::GetSnapshotParams,
        ext::DiffParams,
        ext::DiffResult,
        ext::JobStarted,
        ext::CaptureHeapArgs,
        ext::StopResult,
        ext::ListBoardsResult,
        ext::InitializationOptions,
        Settings,
    );
    let definitions = generator.take_definitions(true);
    let methods: Vec<Value> = ext::METHODS
        .iter()
        .map(|m| json!({ "name": m.name, "params": m.params, "result": m.result }))
        .collect();
    let commands: Vec<Value> = ext::COMMANDS
        .iter()
        .map(|c| json!({ "name": c.name, "arguments": c.arguments, "result": c.result }))
        .collect();
    // The block codes of `DiffArea.codes`, from the one definition of them.
    use crate::heap::BlockChange;
    let diff_codes = json!({
        "FreeInBoth": BlockChange::Free.code(),
        "Same": BlockChange::SameAlloc.code(),
        "Allocated": BlockChange::Allocated.code(),
        "Freed": BlockChange::Freed.code(),
        "ChangedKind": BlockChange::ChangedKind.code(),
    });
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "HeapLensProtocol",
        "description": "Generated from server/src/lsp/ext.rs and settings.rs by `UPDATE_GENERATED=1 cargo test --lib generated`. Do not edit.",
        "type": "object",
        "properties": roots,
        "additionalProperties": false,
        "definitions": definitions,
        "x-methods": methods,
        "x-commands": commands,
        "x-constants": { "DiffCode": diff_codes },
    })
}

/// Replaces the JSON value of the first `"key":` in `text` with `value`, pretty-printed at the
/// key's indentation, leaving the rest of the file byte for byte.
fn splice_json_value(text: &str, key: &str, value: &Value) -> Option<String> {
    let needle = format!("\"{key}\":");
    let key_at = text.find(&needle)?;
    let line_start = text[..key_at].rfind('\n').map_or(0, |i| i + 1);
    let indent: String = text[line_start..key_at]
        .chars()
        .take_while(|c| c.is_whitespace())
        .collect();
    let mut start = key_at + needle.len();
    while text[start..].starts_with(' ') {
        start += 1;
    }
    let end = start + json_value_len(&text[start..])?;
    let pretty = serde_json::to_string_pretty(value).ok()?;
    let pretty = pretty.replace('\n', &format!("\n{indent}"));
    Some(format!("{}{}{}", &text[..start], pretty, &text[end..]))
}

/// The length of the JSON object or array at the start of `text` (strings respected).
fn json_value_len(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' | '[' => depth += 1,
            '}' | ']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// `package.json` with its generated parts replaced.
pub fn updated_package_json(current: &str) -> Option<String> {
    let text = splice_json_value(current, "configuration", &package_configuration())?;
    splice_json_value(&text, "restrictedConfigurations", &json!(RESTRICTED))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn repo_file(path: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(path)
    }

    /// Compares `path` with `expected`; rewrites it under `UPDATE_GENERATED=1`.
    fn check_fresh(path: &str, expected: &str) {
        let file = repo_file(path);
        let current = std::fs::read_to_string(&file).unwrap_or_default();
        if current == expected {
            return;
        }
        if std::env::var_os("UPDATE_GENERATED").is_some() {
            std::fs::write(&file, expected).expect("writing the generated file");
            return;
        }
        panic!(
            "{path} is stale: run `UPDATE_GENERATED=1 cargo test --lib generated` \
             (then `npm run generate` in extension/) and commit the result"
        );
    }

    #[test]
    fn generated_files_are_fresh() {
        let package = std::fs::read_to_string(repo_file("extension/package.json"))
            .expect("reading extension/package.json");
        let updated = updated_package_json(&package).expect("package.json has a configuration");
        serde_json::from_str::<Value>(&updated).expect("the updated package.json is JSON");
        check_fresh("extension/package.json", &updated);
        let mut schema = serde_json::to_string_pretty(&protocol_schema()).expect("schema");
        schema.push('\n');
        check_fresh("extension/src/generated/protocol.schema.json", &schema);
    }

    #[test]
    fn every_setting_has_a_default_and_a_description() {
        let config = package_configuration();
        let properties = config["properties"].as_object().expect("properties");
        assert!(properties.len() >= 14, "{}", properties.len());
        for (name, property) in properties {
            assert!(
                property.get("default").is_some_and(|d| !d.is_null()),
                "{name}"
            );
            assert!(property.get("markdownDescription").is_some(), "{name}");
        }
        assert_eq!(properties["heaplens.simulatedHeapBytes"]["minimum"], 65536);
        assert_eq!(properties["heaplens.thresholds.hintBytes"]["default"], 1024);
        for restricted in RESTRICTED {
            assert!(properties.contains_key(*restricted), "{restricted}");
        }
    }

    #[test]
    fn splicing_replaces_only_the_named_value() {
        let text = "{\n  \"a\": {\n    \"x\": \"}\"\n  },\n  \"b\": 1\n}\n";
        let out = splice_json_value(text, "a", &json!({"y": [1]})).expect("spliced");
        assert_eq!(
            out,
            "{\n  \"a\": {\n    \"y\": [\n      1\n    ]\n  },\n  \"b\": 1\n}\n"
        );
    }
}
