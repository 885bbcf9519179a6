//! JSON Lines: one object per line, label and text picked by key.

use serde_json::Value;

use super::{Collector, Column, ReadOptions, join_texts};
use crate::error::Result;

/// Reads JSON Lines into `out`: each non-blank line one object, label and text picked by key.
pub(super) fn read_jsonl(content: &[u8], opts: &ReadOptions, out: &mut Collector) -> Result<()> {
    // Indices are meaningless for objects (key order is not part of JSON): a mistake in the options,
    // not in any row, so it fails even under skip_bad_rows.
    let key = |column: &Column| match column {
        Column::Name(name) => Ok(name.trim().to_string()),
        Column::Index(i) => Err(out.error(format!(
            "JSONL fields are picked by key, but column {i} is given by index; give the key instead \
             (the defaults are \"label\" and \"text\")"
        ))),
    };
    let label_key = match (&opts.label, opts.unlabeled) {
        (_, true) => None,
        (Some(column), false) => Some(key(column)?),
        (None, false) => Some("label".to_string()),
    };
    let text_keys = if opts.text.is_empty() { vec!["text".to_string()] } else { opts.text.iter().map(key).collect::<Result<Vec<_>>>()? };
    for (i, raw) in content.split(|&b| b == b'\n').enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let outcome = match std::str::from_utf8(raw) {
            Ok(line) if line.trim().is_empty() => continue,
            Ok(line) => json_row(line, label_key.as_deref(), &text_keys),
            Err(e) => Err(format!("expected UTF-8 text, found invalid bytes ({e})")),
        };
        out.take(i + 1, outcome)?;
    }
    Ok(())
}

/// The label and text of one JSON Lines line, or why it is malformed.
fn json_row(line: &str, label_key: Option<&str>, text_keys: &[String]) -> Result<(Option<String>, String), String> {
    // The usual mistake is a whole-file JSON array given as JSON Lines; say so.
    let hint = if line.trim_start().starts_with('[') { " (JSON Lines needs one object per line, not a JSON array)" } else { "" };
    let value: Value = serde_json::from_str(line).map_err(|e| {
        // serde_json counts lines within the one line it was given; only the column is news.
        let message = e.to_string();
        let message = message.strip_suffix(&format!(" at line {} column {}", e.line(), e.column())).unwrap_or(&message);
        format!("expected a JSON object, found invalid JSON ({message} at column {}){hint}", e.column())
    })?;
    let map = match value {
        Value::Object(map) => map,
        other => return Err(format!("expected a JSON object, found {}{hint}", kind(&other))),
    };
    let get = |key: &str| {
        map.get(key).ok_or_else(|| {
            let mut keys = map.keys().take(10).map(|k| format!("{k:?}")).collect::<Vec<_>>().join(", ");
            if map.len() > 10 {
                keys.push_str(", …");
            }
            if keys.is_empty() {
                format!("expected key {key:?}, found an empty object")
            } else {
                format!("expected key {key:?}, found keys {keys}")
            }
        })
    };
    let label = match label_key {
        Some(key) => {
            let label = match get(key)? {
                Value::String(s) => s.trim().to_string(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                other => return Err(format!("expected {key:?} to be a string, number or boolean label, found {}", kind(other))),
            };
            if label.is_empty() {
                return Err(format!("expected a label in {key:?}, found an empty string"));
            }
            Some(label)
        }
        None => None,
    };
    let mut parts = Vec::with_capacity(text_keys.len());
    for key in text_keys {
        parts.push(match get(key)? {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            other => return Err(format!("expected {key:?} to be a string, found {}", kind(other))),
        });
    }
    Ok((label, join_texts(parts.iter().map(String::as_str))))
}

/// "an array", "null", ...: what a JSON value is, for messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
