//! Reading the JSON-RPC's hex encodings: quantities (`0x1b4`), fixed-size data (`0x…` of an
//! exact length) and byte strings. Every error names the field and shows (a bounded part of)
//! the value, so a garbled answer from a node is reported, never a panic.

use serde_json::Value;

use crate::protocol::Hash32;

/// Why a field of a JSON-RPC answer could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field {field}: {problem}")]
pub struct FieldError {
    pub field: String,
    pub problem: String,
}

fn field_error(field: &str, problem: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_string(),
        problem: problem.into(),
    }
}

/// A value shown in an error, cut short: an answer can be arbitrarily long.
pub fn shown(value: &Value) -> String {
    clip(&value.to_string(), 80)
}

/// At most `max` characters of `s`, with an ellipsis when cut.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max).collect();
        out.push('…');
        out
    }
}

fn hex_str<'a>(obj: &'a Value, field: &str) -> Result<&'a str, FieldError> {
    match obj.get(field) {
        None | Some(Value::Null) => Err(field_error(field, "missing")),
        Some(Value::String(s)) => s
            .strip_prefix("0x")
            .or_else(|| s.strip_prefix("0X"))
            .ok_or_else(|| field_error(field, format!("expected 0x-prefixed hex, got {s:?}"))),
        Some(other) => Err(field_error(
            field,
            format!("expected a hex string, got {}", shown(other)),
        )),
    }
}

/// Whether the object has a non-null `field`.
pub fn has(obj: &Value, field: &str) -> bool {
    !matches!(obj.get(field), None | Some(Value::Null))
}

/// A quantity that fits in a u128.
pub fn quantity_u128(obj: &Value, field: &str) -> Result<u128, FieldError> {
    let digits = hex_str(obj, field)?;
    parse_quantity(digits).map_err(|problem| field_error(field, problem))
}

/// A quantity that fits in a u64.
pub fn quantity(obj: &Value, field: &str) -> Result<u64, FieldError> {
    let v = quantity_u128(obj, field)?;
    u64::try_from(v).map_err(|_| field_error(field, format!("{v} does not fit in 64 bits")))
}

/// `0x…` digits of a quantity (already without the prefix).
pub fn parse_quantity(digits: &str) -> Result<u128, String> {
    if digits.is_empty() {
        return Err("empty quantity".into());
    }
    if digits.len() > 32 {
        return Err(format!("quantity 0x{} is too large", clip(digits, 40)));
    }
    u128::from_str_radix(digits, 16).map_err(|_| format!("not hex: 0x{}", clip(digits, 40)))
}

/// Arbitrary bytes.
pub fn bytes(obj: &Value, field: &str) -> Result<Vec<u8>, FieldError> {
    let digits = hex_str(obj, field)?;
    hex::decode(digits).map_err(|e| field_error(field, format!("not hex bytes: {e}")))
}

/// Exactly `N` bytes.
pub fn fixed<const N: usize>(obj: &Value, field: &str) -> Result<[u8; N], FieldError> {
    let data = bytes(obj, field)?;
    <[u8; N]>::try_from(data.as_slice())
        .map_err(|_| field_error(field, format!("expected {N} bytes, got {}", data.len())))
}

pub fn hash(obj: &Value, field: &str) -> Result<Hash32, FieldError> {
    fixed::<32>(obj, field).map(Hash32)
}

/// A quantity as the RPC wants it: `0x` and no leading zeros.
pub fn to_quantity(n: u64) -> String {
    format!("{n:#x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quantities_and_data_are_read_and_errors_name_the_field() {
        let v = json!({"n": "0x1b4", "big": "0xffffffffffffffffff", "h": "0x00ff", "bad": 7,
                       "nohex": "12", "zz": "0xzz"});
        assert_eq!(quantity(&v, "n"), Ok(436));
        assert!(quantity(&v, "big")
            .unwrap_err()
            .to_string()
            .contains("64 bits"));
        assert_eq!(quantity_u128(&v, "big"), Ok(0x00ff_ffff_ffff_ffff_ffff));
        assert_eq!(bytes(&v, "h"), Ok(vec![0, 0xff]));
        assert!(fixed::<3>(&v, "h")
            .unwrap_err()
            .to_string()
            .contains("expected 3 bytes"));
        assert!(quantity(&v, "missing")
            .unwrap_err()
            .to_string()
            .contains("missing"));
        assert!(quantity(&v, "bad")
            .unwrap_err()
            .to_string()
            .starts_with("field bad"));
        assert!(quantity(&v, "nohex").is_err());
        assert!(quantity(&v, "zz").is_err());
        assert_eq!(to_quantity(0), "0x0");
        assert_eq!(to_quantity(900), "0x384");
    }

    #[test]
    fn long_values_are_clipped_in_errors() {
        let long = "a".repeat(1000);
        assert_eq!(clip(&long, 10).chars().count(), 11);
        assert_eq!(clip("short", 10), "short");
    }
}
