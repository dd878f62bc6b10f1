//! Checking a value a person gave against the type of the input or field that asked for it.

use crate::runbook::{Input, InputKind};
use serde_json::Value;

/// The value as it will be recorded, or why it does not fit.
pub fn check_value(input: &Input, value: &Value) -> Result<Value, String> {
    let text = match value {
        Value::String(text) => text.trim().to_owned(),
        Value::Number(number) => number.to_string(),
        Value::Bool(flag) => flag.to_string(),
        _ => return Err("must be a single value, not a list or mapping".into()),
    };
    if text.is_empty() {
        return Err("is empty".into());
    }

    match &input.kind {
        InputKind::Text => Ok(Value::String(text)),
        InputKind::Number => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(|number| match text.parse::<i64>() {
                Ok(whole) => Value::from(whole),
                Err(_) => Value::Number(number),
            })
            .ok_or_else(|| format!("`{text}` is not a number")),
        InputKind::Boolean => match text.as_str() {
            "true" | "yes" => Ok(Value::Bool(true)),
            "false" | "no" => Ok(Value::Bool(false)),
            _ => Err(format!("`{text}` is not yes or no")),
        },
        InputKind::Date => text
            .parse::<jiff::civil::Date>()
            .map(|date| Value::String(date.to_string()))
            .map_err(|_| format!("`{text}` is not a date like 2026-12-03")),
        InputKind::Kcv => {
            let hex = text.to_ascii_uppercase();
            let even = hex.len() % 2 == 0 && (4..=10).contains(&hex.len());
            if even && hex.chars().all(|c| c.is_ascii_hexdigit()) {
                Ok(Value::String(hex))
            } else {
                Err(format!(
                    "`{text}` is not a check value: 2 to 5 bytes in hex, like 08D7B4"
                ))
            }
        }
        InputKind::Person => {
            if crate::policy::roster::is_id(&text) {
                Ok(Value::String(text))
            } else {
                Err(format!(
                    "`{text}` is not a roster id: lowercase letters, digits, `-`, `_` and `.`"
                ))
            }
        }
        InputKind::Choice(choices) => {
            if choices.contains(&text) {
                Ok(Value::String(text))
            } else {
                Err(format!("`{text}` is not one of {}", choices.join(", ")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(kind: InputKind) -> Input {
        Input {
            name: "x".into(),
            prompt: "X?".into(),
            kind,
            required: true,
            holds: None,
        }
    }

    #[test]
    fn a_kcv_is_kept_in_upper_case_hex() {
        assert_eq!(
            check_value(&input(InputKind::Kcv), &json!("08d7b4")),
            Ok(json!("08D7B4"))
        );
        assert!(check_value(&input(InputKind::Kcv), &json!("08D7B")).is_err());
        assert!(check_value(&input(InputKind::Kcv), &json!("XYZXYZ")).is_err());
    }

    #[test]
    fn numbers_dates_and_choices_are_checked() {
        assert_eq!(
            check_value(&input(InputKind::Number), &json!("3")),
            Ok(json!(3))
        );
        assert!(check_value(&input(InputKind::Number), &json!("three")).is_err());
        assert_eq!(
            check_value(&input(InputKind::Date), &json!("2026-12-03")),
            Ok(json!("2026-12-03"))
        );
        assert!(check_value(&input(InputKind::Date), &json!("tomorrow")).is_err());
        let choice = input(InputKind::Choice(vec!["lost".into(), "damaged".into()]));
        assert_eq!(check_value(&choice, &json!("lost")), Ok(json!("lost")));
        assert!(check_value(&choice, &json!("stolen")).is_err());
    }
}
