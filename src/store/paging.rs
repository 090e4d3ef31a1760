//! The listing's `start_key`: where the next page starts, as an opaque string that is safe
//! in a URL. Both backends page the same way (keyset on created time, then call id).

use super::StoreError;

/// A longer `start_key` cannot be one we made.
const START_KEY_MAX: usize = 4096;

/// `<created_ms>-<call id in hex>`: opaque to clients, and safe in a URL as it is.
pub(crate) fn encode_start_key(created_ms: i64, call_id: &str) -> String {
    let mut key = format!("{created_ms}-");
    for b in call_id.bytes() {
        key.push_str(&format!("{b:02x}"));
    }
    key
}

pub(crate) fn decode_start_key(key: &str) -> Result<(i64, String), StoreError> {
    if key.len() > START_KEY_MAX {
        return Err(StoreError::BadStartKey);
    }
    let (ms, hex) = key.split_once('-').ok_or(StoreError::BadStartKey)?;
    let ms: i64 = ms.parse().map_err(|_| StoreError::BadStartKey)?;
    if hex.len() % 2 != 0 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(StoreError::BadStartKey);
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| StoreError::BadStartKey))
        .collect::<Result<Vec<u8>, _>>()?;
    let call_id = String::from_utf8(bytes).map_err(|_| StoreError::BadStartKey)?;
    // No call id holds NUL (and PostgreSQL text cannot).
    if call_id.contains('\0') {
        return Err(StoreError::BadStartKey);
    }
    Ok((ms, call_id))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn start_key_round_trips_any_call_id() {
        for id in ["", "abc", "a/b@c%d", "x' OR '1'='1", "é-ü:-1"] {
            let key = encode_start_key(1_700_000_000_123, id);
            assert!(key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
            assert_eq!(
                decode_start_key(&key).unwrap(),
                (1_700_000_000_123, id.to_string())
            );
        }
    }

    #[test]
    fn hostile_start_keys_are_refused() {
        for key in [
            "",
            "x",
            "12",
            "12-1",
            "12-zz",
            "abc-00",
            "1-ff",
            "1-6100",
            &"1-".repeat(3000),
        ] {
            assert!(
                matches!(decode_start_key(key), Err(StoreError::BadStartKey)),
                "{key:?}"
            );
        }
    }
}
