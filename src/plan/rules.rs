//! A play's `serial`, `max_fail_percentage` and `any_errors_fatal` read from values, the same
//! way whether they were written literally (checked at load time) or rendered from a template
//! when the play starts (`Play::rules`).

use super::model::Serial;
use crate::vocab::rendered_boolean;
use minijinja::Value;
use minijinja::value::ValueKind;

const SERIAL_HINT: &str = "write `serial: 2`, `serial: \"30%\"` or a list such as [1, 5, \"50%\"]";

/// `serial`: a count, a percentage (`"30%"`), or a list of them whose last entry repeats.
/// A count of 0 (or less) means every host in one batch, as in Ansible.
pub fn serial(v: &Value) -> Result<Vec<Serial>, String> {
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => Ok(vec![]),
        ValueKind::Seq => v
            .try_iter()
            .map_err(|e| e.to_string())?
            .map(|item| serial_one(&item))
            .collect(),
        _ => Ok(vec![serial_one(v)?]),
    }
}

fn serial_one(v: &Value) -> Result<Serial, String> {
    let bad = || {
        format!(
            "serial must be a number or a percentage, found {} ({}); {}",
            describe(v),
            v,
            SERIAL_HINT
        )
    };
    if let Some(s) = v.as_str() {
        let s = s.trim();
        return match s.strip_suffix('%') {
            Some(p) => p
                .trim()
                .parse::<f64>()
                .map(Serial::Percent)
                .map_err(|_| bad()),
            None => s
                .parse::<i64>()
                .map(|n| Serial::Count(n.max(0) as usize))
                .map_err(|_| bad()),
        };
    }
    match v.kind() {
        ValueKind::Number => i64::try_from(v.clone())
            .map(|n| Serial::Count(n.max(0) as usize))
            .map_err(|_| bad()),
        _ => Err(bad()),
    }
}

/// `max_fail_percentage`: a number (or `"30%"`) from 0 to 100.
pub fn percentage(v: &Value) -> Result<f64, String> {
    let n = match v.kind() {
        ValueKind::Number => f64::try_from(v.clone()).ok(),
        ValueKind::String => v
            .as_str()
            .and_then(|s| s.trim().trim_end_matches('%').trim().parse().ok()),
        _ => None,
    };
    n.filter(|p| (0.0..=100.0).contains(p))
        .ok_or_else(|| format!("max_fail_percentage must be a number from 0 to 100, found {v}"))
}

/// A boolean play keyword: a YAML boolean, 0/1, or one of Ansible's boolean strings.
pub fn boolean(v: &Value, what: &str) -> Result<bool, String> {
    let b = match v.kind() {
        ValueKind::Bool => Some(v.is_true()),
        ValueKind::Number => match i64::try_from(v.clone()) {
            Ok(0) => Some(false),
            Ok(1) => Some(true),
            _ => None,
        },
        ValueKind::String => v.as_str().and_then(rendered_boolean),
        _ => None,
    };
    b.ok_or_else(|| format!("{what} must be a boolean, found {v}"))
}

fn describe(v: &Value) -> &'static str {
    match v.kind() {
        ValueKind::Bool => "a boolean",
        ValueKind::Number => "a number",
        ValueKind::String => "a string",
        ValueKind::Map => "a mapping",
        _ => "a value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_forms() {
        let v = |s: &str| {
            Value::from(minijinja::value::Serde(
                serde_json::from_str::<serde_json::Value>(s).unwrap(),
            ))
        };
        assert_eq!(serial(&v("2")).unwrap(), vec![Serial::Count(2)]);
        assert_eq!(serial(&v("\"30%\"")).unwrap(), vec![Serial::Percent(30.0)]);
        assert_eq!(
            serial(&v("[1, \"5\", \"50 %\"]")).unwrap(),
            vec![Serial::Count(1), Serial::Count(5), Serial::Percent(50.0)]
        );
        assert_eq!(serial(&v("0")).unwrap(), vec![Serial::Count(0)]);
        assert!(
            serial(&v("\"two\""))
                .unwrap_err()
                .contains("serial must be")
        );
        assert_eq!(percentage(&v("\"25%\"")).unwrap(), 25.0);
        assert!(percentage(&v("101")).is_err());
        assert!(boolean(&v("\"yes\""), "x").unwrap());
        assert!(boolean(&v("\"maybe\""), "x").is_err());
    }
}
