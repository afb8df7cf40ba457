//! Bounded verification of `t=<timestamp>,v1=<hex>[,v1=<hex>...]` webhook signatures (Stripe
//! and Livepeer sign this way), and a capped body reader for webhook routes.
//!
//! The work a forged delivery can cause is bounded before any hashing: the header is at most
//! [`MAX_HEADER_LEN`] bytes with at most [`MAX_V1_ENTRIES`] `v1` entries, and the timestamp is
//! checked against the tolerance first. The HMAC of the payload is then computed once and
//! compared in constant time with every candidate.

use crate::error::InputError;
use actix_web::web;
use futures_util::StreamExt;
use hmac::digest::CtOutput;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Longest signature header accepted, bytes.
pub const MAX_HEADER_LEN: usize = 1024;
/// Most `v1` entries accepted (senders list two while rolling a secret).
pub const MAX_V1_ENTRIES: usize = 8;

/// Why a signature header was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Too long, too many entries, no `t=` or no well-formed `v1=`.
    #[error("malformed signature header")]
    Malformed,
    /// The timestamp is outside the tolerance.
    #[error("timestamp outside the tolerance")]
    Stale,
    /// No `v1` signature matches the payload.
    #[error("no signature matches")]
    Mismatch,
}

/// A parsed header: its timestamp and the well-formed SHA-256-sized `v1` candidates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeader {
    /// The `t` value, in the sender's unit (Stripe: seconds, Livepeer: milliseconds).
    pub timestamp: i64,
    /// Decoded `v1` values; malformed ones are skipped, as the senders' libraries do.
    pub candidates: Vec<[u8; 32]>,
}

impl SignatureHeader {
    /// Parse `header`, refusing it before any allocation proportional to its entries when it
    /// exceeds the bounds.
    ///
    /// # Errors
    /// [`SignatureError::Malformed`].
    pub fn parse(header: &str) -> Result<Self, SignatureError> {
        if header.len() > MAX_HEADER_LEN {
            return Err(SignatureError::Malformed);
        }
        let (mut timestamp, mut v1_entries, mut candidates) = (None, 0usize, Vec::new());
        for element in header.split(',') {
            let Some((key, value)) = element.trim().split_once('=') else { continue };
            match key {
                "t" if timestamp.is_none() => {
                    timestamp = Some(value.parse::<i64>().map_err(|_| SignatureError::Malformed)?);
                }
                "t" => return Err(SignatureError::Malformed),
                "v1" => {
                    v1_entries += 1;
                    if v1_entries > MAX_V1_ENTRIES {
                        return Err(SignatureError::Malformed);
                    }
                    let mut sig = [0u8; 32];
                    if hex::decode_to_slice(value, &mut sig).is_ok() {
                        candidates.push(sig);
                    }
                }
                _ => {}
            }
        }
        let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
        if candidates.is_empty() {
            return Err(SignatureError::Malformed);
        }
        Ok(Self { timestamp, candidates })
    }

    /// Whether the timestamp is within `tolerance` of `now` (same unit), in either direction.
    ///
    /// # Errors
    /// [`SignatureError::Stale`].
    pub fn check_fresh(&self, now: i64, tolerance: u64) -> Result<(), SignatureError> {
        if now.abs_diff(self.timestamp) > tolerance {
            return Err(SignatureError::Stale);
        }
        Ok(())
    }

    /// Call `mac(t)` once for the expected HMAC-SHA256 and compare it with every candidate in
    /// constant time. `mac` is `FnOnce`: the payload is hashed at most once per request.
    ///
    /// # Errors
    /// [`SignatureError::Mismatch`].
    pub fn check_mac(&self, mac: impl FnOnce(i64) -> [u8; 32]) -> Result<(), SignatureError> {
        let expected = CtOutput::<Hmac<Sha256>>::new(mac(self.timestamp).into());
        // No early exit: every candidate is compared, each in constant time.
        let matched =
            self.candidates.iter().fold(false, |acc, c| (expected == CtOutput::<Hmac<Sha256>>::new((*c).into())) | acc);
        if matched {
            Ok(())
        } else {
            Err(SignatureError::Mismatch)
        }
    }
}

/// Verify `header`: parse it within the bounds, check its timestamp is within `tolerance` of
/// `now` (same unit as `t`), then compare `mac(t)`, computed once, with every candidate.
/// Returns the timestamp.
///
/// # Errors
/// [`SignatureError`], in that order: malformed, stale, mismatch.
pub fn verify(
    header: &str,
    now: i64,
    tolerance: u64,
    mac: impl FnOnce(i64) -> [u8; 32],
) -> Result<i64, SignatureError> {
    let parsed = SignatureHeader::parse(header)?;
    parsed.check_fresh(now, tolerance)?;
    parsed.check_mac(mac)?;
    Ok(parsed.timestamp)
}

/// HMAC-SHA256 of the concatenated `parts` keyed with `secret`.
pub fn hmac_sha256(secret: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        // HMAC accepts keys of any length; this branch is unreachable.
        return [0; 32];
    };
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// Read a request body of at most `limit` bytes, refusing a larger one (by its
/// `Content-Length` or while streaming) with `413 payload_too_large`.
///
/// # Errors
/// [`InputError::TooLarge`], or [`InputError::InvalidJson`] if the body stream fails.
pub async fn read_body(
    req: &actix_web::HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, InputError> {
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(InputError::TooLarge);
    }
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(0).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| InputError::InvalidJson("the request body could not be read".into()))?;
        if body.len() + chunk.len() > limit {
            return Err(InputError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    const KEY: &[u8] = b"whsec_test";

    fn mac_for<'a>(payload: &'static [u8], calls: &'a Cell<u32>) -> impl FnOnce(i64) -> [u8; 32] + 'a {
        move |t| {
            calls.set(calls.get() + 1);
            hmac_sha256(KEY, &[t.to_string().as_bytes(), b".", payload])
        }
    }

    fn header(t: i64, payload: &[u8]) -> String {
        format!("t={t},v1={}", hex::encode(hmac_sha256(KEY, &[t.to_string().as_bytes(), b".", payload])))
    }

    #[test]
    fn a_valid_signature_among_several_costs_one_hmac() {
        let calls = Cell::new(0);
        let h = format!("t=1000,v1={},{}", "00".repeat(32), &header(1000, b"body")["t=1000,".len()..]);
        assert_eq!(verify(&h, 1_100, 300, mac_for(b"body", &calls)), Ok(1000));
        assert_eq!(calls.get(), 1);
    }

    #[test]
    fn thousands_of_entries_are_refused_without_hashing() {
        let calls = Cell::new(0);
        let huge = format!("t=1000{}", ",v1=".repeat(20_000));
        assert_eq!(verify(&huge, 1_000, 300, mac_for(b"body", &calls)), Err(SignatureError::Malformed));
        // Under the length cap but over the entry cap.
        let many = format!("t=1000{}", ",v1=00".repeat(MAX_V1_ENTRIES + 1));
        assert!(many.len() <= MAX_HEADER_LEN);
        assert_eq!(verify(&many, 1_000, 300, mac_for(b"body", &calls)), Err(SignatureError::Malformed));
        assert_eq!(calls.get(), 0);
    }

    #[test]
    fn the_timestamp_is_checked_before_hashing() {
        let calls = Cell::new(0);
        let h = header(1000, b"body");
        assert_eq!(verify(&h, 1_301, 300, mac_for(b"body", &calls)), Err(SignatureError::Stale));
        assert_eq!(verify(&h, 699, 300, mac_for(b"body", &calls)), Err(SignatureError::Stale));
        let extreme = format!("t={},v1={}", i64::MIN, "00".repeat(32));
        assert_eq!(verify(&extreme, i64::MAX, 300, mac_for(b"body", &calls)), Err(SignatureError::Stale));
        assert_eq!(calls.get(), 0);
    }

    #[test]
    fn malformed_and_mismatched_headers_are_refused() {
        let calls = Cell::new(0);
        for h in ["", "v1=00", "t=1000", "t=x,v1=00", "t=1000,v1=zz", "t=1000,t=1000,v1=00"] {
            assert_eq!(SignatureHeader::parse(h), Err(SignatureError::Malformed), "{h}");
        }
        let h = header(1000, b"body");
        assert_eq!(verify(&h, 1_000, 300, mac_for(b"other", &calls)), Err(SignatureError::Mismatch));
        assert_eq!(calls.get(), 1);
    }
}
