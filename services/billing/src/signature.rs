//! Verification of Stripe's `Stripe-Signature` webhook header.
//!
//! Stripe signs each delivery as `t=<unix seconds>,v1=<hex>[,v1=<hex>...][,v0=...]`, where each
//! `v1` is HMAC-SHA256 keyed with the endpoint secret over `"<t>.<raw body>"`. Several `v1`
//! values appear while a secret is being rolled; any one matching is enough. Other schemes
//! (`v0`, test-only) are ignored. The timestamp must be within the tolerance of now (Stripe's
//! libraries default to 300 s) in either direction, which limits replays.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Why a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `t=` or no `v1=` element, or an element that does not parse.
    #[error("malformed Stripe-Signature header")]
    Malformed,
    /// No `v1` signature matches the payload.
    #[error("no signature matches")]
    Mismatch,
    /// The timestamp is outside the tolerance.
    #[error("timestamp outside the tolerance")]
    Stale,
}

/// Verify `header` for `payload` with `secret` at time `now` (Unix seconds).
///
/// # Errors
/// [`SignatureError`] describing the first failure (the caller answers all of them the same way).
pub fn verify(payload: &[u8], header: &str, secret: &str, now: i64, tolerance_secs: i64) -> Result<(), SignatureError> {
    let mut timestamp: Option<i64> = None;
    let mut signatures: Vec<Vec<u8>> = Vec::new();
    for element in header.split(',') {
        let Some((key, value)) = element.trim().split_once('=') else { continue };
        match key {
            "t" => timestamp = Some(value.parse().map_err(|_| SignatureError::Malformed)?),
            // A malformed v1 value cannot match; skip it like Stripe's libraries do.
            "v1" => signatures.extend(hex::decode(value).ok()),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let mut matched = false;
    for sig in &signatures {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|_| SignatureError::Malformed)?;
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(payload);
        // verify_slice compares in constant time.
        if mac.verify_slice(sig).is_ok() {
            matched = true;
        }
    }
    if !matched {
        return Err(SignatureError::Mismatch);
    }
    if (now - timestamp).abs() > tolerance_secs {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

/// The header Stripe would send for `payload` at `timestamp` (tests and tooling).
pub fn sign(payload: &[u8], secret: &str, timestamp: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(payload);
    format!("t={timestamp},v1={}", hex::encode(mac.finalize().into_bytes()))
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
}
