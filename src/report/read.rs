//! A `result.json` read back and checked before anything uses it: its
//! schema version (a newer one is refused, naming both), then every
//! number (time scale, seconds and milliseconds) within range, then the
//! typed model. `report`, `--baseline` and the fuzz tests share it.

use std::path::Path;

use super::RunResult;

/// The text of a result file, as a [`RunResult`], or the message that says
/// why it is not one (naming `path`, and the line and column for JSON).
pub fn parse_result(path: &Path, text: &str) -> Result<RunResult, String> {
    check_schema_version(path, text)?;
    check_numbers(path, text)?;
    serde_json::from_str(text).map_err(|e| {
        format!(
            "{}:{}:{}: not a zeta-bench result: {e}",
            path.display(),
            e.line(),
            e.column()
        )
    })
}

/// A result written by a newer zeta-bench is refused, naming both
/// versions: rendering it as if its fields meant what ours do would be a
/// report of something else. An older one is read as today.
fn check_schema_version(path: &Path, text: &str) -> Result<(), String> {
    #[derive(serde::Deserialize)]
    struct Versioned {
        schema_version: Option<u64>,
    }
    let ours = super::model::SCHEMA_VERSION;
    match serde_json::from_str::<Versioned>(text) {
        Ok(Versioned {
            schema_version: Some(v),
        }) if v > u64::from(ours) => Err(format!(
            "{}: schema_version: expected {ours} or older (this zeta-bench reads results up to schema {ours}), found {v}: it was written by a newer zeta-bench; render it with that version",
            path.display()
        )),
        _ => Ok(()),
    }
}

/// Every number a result carries is checked before anything reads it: a
/// time scale within the accepted range, and every seconds (`…_s`) or
/// milliseconds (`…_ms`) value within the longest duration any input may
/// have. A hand-edited or corrupted result is refused at the field, not
/// rendered with numbers that mean nothing.
fn check_numbers(path: &Path, text: &str) -> Result<(), String> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else {
        return Ok(()); // the typed read says where it is not JSON
    };
    let mut problem = None;
    walk_numbers(&v, "", &mut |field, n| {
        if problem.is_some() {
            return;
        }
        let max = crate::input::units::MAX_DURATION.as_secs_f64();
        // `samples_ms[3]` is a `samples_ms` value.
        let key = field.trim_end_matches(|c: char| c == ']' || c == '[' || c.is_ascii_digit());
        let bad = if key.ends_with("time_scale") {
            crate::input::units::check_time_scale(n).err()
        } else if key.ends_with("_s") && n.abs() > max {
            Some(format!(
                "expected seconds within ±{max}, found {}",
                crate::input::units::show_number(n)
            ))
        } else if key.ends_with("_ms") && n.abs() > max * 1000.0 {
            Some(format!(
                "expected milliseconds within ±{}, found {}",
                max * 1000.0,
                crate::input::units::show_number(n)
            ))
        } else {
            None
        };
        problem = bad.map(|e| format!("{}: {field}: {e}", path.display()));
    });
    problem.map_or(Ok(()), Err)
}

/// Call `f` with the dotted path and value of every number in `v`. The
/// JSON parser has already bounded the nesting (128 levels).
fn walk_numbers(v: &serde_json::Value, at: &str, f: &mut dyn FnMut(&str, f64)) {
    match v {
        serde_json::Value::Number(n) => f(at, n.as_f64().unwrap_or(0.0)),
        serde_json::Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                walk_numbers(x, &format!("{at}[{i}]"), f);
            }
        }
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                let p = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                walk_numbers(x, &p, f);
            }
        }
        _ => {}
    }
}
