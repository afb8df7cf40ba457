//! Verification of Stripe's `Stripe-Signature` webhook header.
//!
//! Stripe signs each delivery as `t=<unix seconds>,v1=<hex>[,v1=<hex>...][,v0=...]`, where each
//! `v1` is HMAC-SHA256 keyed with the endpoint secret over `"<t>.<raw body>"`. Several `v1`
//! values appear while a secret is being rolled; any one matching is enough. Other schemes
//! (`v0`, test-only) are ignored. The timestamp must be within the tolerance of now (Stripe's
//! libraries default to 300 s) in either direction, which limits replays. The header may be at
//! most 1 KB with at most 8 `v1` entries, so a forged delivery costs at most one HMAC.

use tandem_shared::webhook::{self, hmac_sha256};
pub use tandem_shared::webhook::{SignatureError, SignatureHeader};

/// Verify `header` for `payload` with `secret` at time `now` (Unix seconds). The header is
/// bounded and its timestamp checked before the payload is hashed, once (see
/// [`tandem_shared::webhook::verify`]).
///
/// # Errors
/// [`SignatureError`] describing the first failure (the caller answers all of them the same way).
pub fn verify(payload: &[u8], header: &str, secret: &str, now: i64, tolerance_secs: u64) -> Result<(), SignatureError> {
    webhook::verify(header, now, tolerance_secs, |t| expected(payload, secret, t)).map(|_| ())
}

/// The `v1` Stripe computes for `payload` at `timestamp`: HMAC-SHA256 of `"<t>.<payload>"`.
pub fn expected(payload: &[u8], secret: &str, timestamp: i64) -> [u8; 32] {
    hmac_sha256(secret.as_bytes(), &[timestamp.to_string().as_bytes(), b".", payload])
}

/// The header Stripe would send for `payload` at `timestamp` (tests and tooling).
pub fn sign(payload: &[u8], secret: &str, timestamp: i64) -> String {
    format!("t={timestamp},v1={}", hex::encode(expected(payload, secret, timestamp)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";

    #[test]
    fn accepts_a_valid_signature_and_any_of_several_v1() {
        let body = br#"{"id":"evt_1"}"#;
        let header = sign(body, SECRET, 1_000);
        assert_eq!(verify(body, &header, SECRET, 1_100, 300), Ok(()));
        let other = sign(body, "whsec_old", 1_000);
        let v1_other = other.split_once(",v1=").map(|(_, v)| v).unwrap_or_default();
        let both = format!("{header},v1={v1_other},v0=deadbeef");
        assert_eq!(verify(body, &both, SECRET, 1_000, 300), Ok(()));
        assert_eq!(verify(body, &both, "whsec_old", 1_000, 300), Ok(()));
    }

    #[test]
    fn refuses_forged_stale_and_malformed() {
        let body = br#"{"id":"evt_1"}"#;
        let header = sign(body, SECRET, 1_000);
        assert_eq!(verify(br#"{"id":"evt_2"}"#, &header, SECRET, 1_000, 300), Err(SignatureError::Mismatch));
        assert_eq!(verify(body, &header, "whsec_wrong", 1_000, 300), Err(SignatureError::Mismatch));
        assert_eq!(verify(body, &header, SECRET, 1_301, 300), Err(SignatureError::Stale));
        assert_eq!(verify(body, &header, SECRET, 699, 300), Err(SignatureError::Stale));
        assert_eq!(verify(body, "v1=abcd", SECRET, 1_000, 300), Err(SignatureError::Malformed));
        assert_eq!(verify(body, "t=1000", SECRET, 1_000, 300), Err(SignatureError::Malformed));
        assert_eq!(verify(body, "t=x,v1=00", SECRET, 1_000, 300), Err(SignatureError::Malformed));
        // Changing the timestamp breaks the signature.
        let moved = header.replacen("t=1000", "t=1001", 1);
        assert_eq!(verify(body, &moved, SECRET, 1_000, 300), Err(SignatureError::Mismatch));
    }

    #[test]
    fn a_header_with_thousands_of_entries_is_malformed() {
        let body = br#"{"id":"evt_1"}"#;
        let forged = format!("t=1000{}", ",v1=".repeat(20_000));
        assert_eq!(verify(body, &forged, SECRET, 1_000, 300), Err(SignatureError::Malformed));
        // The genuine signature does not help once the entry cap is passed.
        let padded = format!("{}{}", sign(body, SECRET, 1_000), ",v1=00".repeat(8));
        assert_eq!(verify(body, &padded, SECRET, 1_000, 300), Err(SignatureError::Malformed));
    }
}
