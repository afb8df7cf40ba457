//! Two-factor sign-in: TOTP (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps), recovery codes,
//! and their storage (`totp_credentials`, `totp_recovery_codes`).
//!
//! A code is accepted for the current step or one step either side (clock drift), and only for
//! a step later than the last one accepted (`last_step`, advanced atomically), so a code cannot
//! be replayed, not even within its own window. Recovery codes are 16 base32 characters
//! (80 bits), stored as SHA-256, each usable once. Secrets are sealed with `TANDEM_TOTP_KEY`
//! (AES-256-CCM) when it is set.

use crate::error::AuthApiError;
use aes::Aes256;
use ccm::aead::{Aead, KeyInit};
use ccm::consts::{U12, U16};
use ccm::Ccm;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::{PgPool, Postgres, Transaction};
use tandem_shared::ids::UserId;

/// Seconds per step.
pub const STEP_SECS: i64 = 30;
/// Recovery codes made at enrolment.
pub const RECOVERY_CODES: usize = 10;

type Sealer = Ccm<Aes256, U16, U12>;

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding.
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buf, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buf = (buf << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32[((buf >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(BASE32[((buf << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Decode RFC 4648 base32 (case-insensitive, padding and spaces ignored); `None` on other
/// characters.
pub fn base32_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 5 / 8);
    let (mut buf, mut bits) = (0u32, 0u32);
    for c in s.bytes().filter(|c| *c != b'=' && *c != b' ') {
        let v = BASE32.iter().position(|b| *b == c.to_ascii_uppercase())? as u32;
        buf = (buf << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
            buf &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// The 6-digit code of `secret` at time step `step`.
pub fn code_at(secret: &[u8], step: u64) -> u32 {
    let Ok(mut mac) = <Hmac<sha1::Sha1> as Mac>::new_from_slice(secret) else { return u32::MAX };
    mac.update(&step.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let off = (h[h.len() - 1] & 0x0f) as usize;
    let bin = u32::from_be_bytes([h[off] & 0x7f, h[off + 1], h[off + 2], h[off + 3]]);
    bin % 1_000_000
}

/// The time step of Unix second `now`.
pub fn step_of(now: i64) -> u64 {
    (now.max(0) / STEP_SECS) as u64
}

/// The step `code` is valid for around `now` (one step of drift either side) and later than
/// `last_step`, if any. Compares in constant time per candidate.
pub fn matching_step(secret: &[u8], code: &str, now: i64, last_step: u64) -> Option<u64> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = step_of(now);
    let mut found = None;
    for step in [current.saturating_sub(1), current, current + 1] {
        let expected = format!("{:06}", code_at(secret, step));
        let same = expected.bytes().zip(code.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
        if same && step > last_step && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// A new random 160-bit secret.
pub fn new_secret() -> Vec<u8> {
    let mut s = vec![0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut s);
    s
}

fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The `otpauth://` URI authenticator apps read (usually from a QR code).
pub fn otpauth_uri(secret_b32: &str, account: &str) -> String {
    format!(
        "otpauth://totp/Tandem:{}?secret={secret_b32}&issuer=Tandem&algorithm=SHA1&digits=6&period={STEP_SECS}",
        percent(account)
    )
}

/// Seal `secret` with `key` (nonce first), or keep it as is without a key.
fn seal(key: Option<&[u8; 32]>, secret: &[u8]) -> anyhow::Result<(Vec<u8>, bool)> {
    let Some(key) = key else { return Ok((secret.to_vec(), false)) };
    let cipher = Sealer::new(key.into());
    let mut nonce = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let sealed =
        cipher.encrypt((&nonce).into(), secret).map_err(|_| anyhow::anyhow!("sealing a TOTP secret failed"))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    Ok((out, true))
}

fn open(key: Option<&[u8; 32]>, stored: &[u8], sealed: bool) -> anyhow::Result<Vec<u8>> {
    if !sealed {
        return Ok(stored.to_vec());
    }
    let key = key.ok_or_else(|| anyhow::anyhow!("a TOTP secret is sealed but TANDEM_TOTP_KEY is not set"))?;
    anyhow::ensure!(stored.len() > 12, "a sealed TOTP secret is too short");
    let (nonce, body) = stored.split_at(12);
    Sealer::new(key.into())
        .decrypt(nonce.into(), body)
        .map_err(|_| anyhow::anyhow!("a TOTP secret does not open with TANDEM_TOTP_KEY"))
}

/// Normalise a recovery code as typed: no dashes or spaces, lower case.
fn normalise_recovery(code: &str) -> String {
    code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect()
}

fn recovery_digest(code: &str) -> Vec<u8> {
    Sha256::digest(normalise_recovery(code).as_bytes()).to_vec()
}

/// `RECOVERY_CODES` new codes, formatted `xxxx-xxxx-xxxx-xxxx`.
pub fn new_recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut b = [0u8; 10];
            rand::rngs::OsRng.fill_bytes(&mut b);
            let s = base32(&b).to_ascii_lowercase();
            format!("{}-{}-{}-{}", &s[0..4], &s[4..8], &s[8..12], &s[12..16])
        })
        .collect()
}

/// An account's authenticator.
pub struct Credential {
    /// The raw secret.
    pub secret: Vec<u8>,
    /// Confirmed with a first code (two-factor sign-in is on).
    pub confirmed: bool,
    /// The last step a code was accepted for.
    pub last_step: u64,
}

/// The authenticator of `user`, if any.
///
/// # Errors
/// Database failure, or a sealed secret that does not open.
pub async fn load(db: &PgPool, key: Option<&[u8; 32]>, user: UserId) -> Result<Option<Credential>, AuthApiError> {
    let row: Option<(Vec<u8>, bool, bool, i64)> = sqlx::query_as(
        "select secret, sealed, confirmed_at is not null, last_step from totp_credentials where user_id = $1",
    )
    .bind(user)
    .fetch_optional(db)
    .await?;
    row.map(|(stored, sealed, confirmed, last_step)| {
        Ok(Credential { secret: open(key, &stored, sealed)?, confirmed, last_step: last_step.max(0) as u64 })
    })
    .transpose()
}

/// Start enrolment: a new unconfirmed secret (replacing an earlier unconfirmed one).
///
/// # Errors
/// `TotpAlreadyEnabled` when a confirmed authenticator exists; database failure.
pub async fn enrol(db: &PgPool, key: Option<&[u8; 32]>, user: UserId) -> Result<Vec<u8>, AuthApiError> {
    let secret = new_secret();
    let (stored, sealed) = seal(key, &secret)?;
    let written: Option<UserId> = sqlx::query_scalar(
        "insert into totp_credentials (user_id, secret, sealed) values ($1, $2, $3)
         on conflict (user_id) do update set secret = excluded.secret, sealed = excluded.sealed, last_step = 0,
             created_at = now()
         where totp_credentials.confirmed_at is null
         returning user_id",
    )
    .bind(user)
    .bind(stored)
    .bind(sealed)
    .fetch_optional(db)
    .await?;
    match written {
        Some(_) => Ok(secret),
        None => Err(AuthApiError::TotpAlreadyEnabled),
    }
}

/// Accept a code for `step` once: advances `last_step`; false if another request took this
/// step (or a later one) first.
async fn take_step(db: &PgPool, user: UserId, step: u64) -> Result<bool, AuthApiError> {
    let done = sqlx::query("update totp_credentials set last_step = $2 where user_id = $1 and last_step < $2")
        .bind(user)
        .bind(step as i64)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Check a TOTP code against `cred` and consume its step.
///
/// # Errors
/// Database failure.
pub async fn accept_code(db: &PgPool, user: UserId, cred: &Credential, code: &str) -> Result<bool, AuthApiError> {
    let now = chrono::Utc::now().timestamp();
    match matching_step(&cred.secret, code, now, cred.last_step) {
        Some(step) => take_step(db, user, step).await,
        None => Ok(false),
    }
}

/// Check a second factor: a 6-digit TOTP code, or else an unused recovery code (used up).
///
/// # Errors
/// Database failure.
pub async fn accept_second_factor(
    db: &PgPool,
    user: UserId,
    cred: &Credential,
    input: &str,
) -> Result<bool, AuthApiError> {
    let input = input.trim();
    if input.len() > 64 {
        return Ok(false);
    }
    if input.len() == 6 && input.bytes().all(|b| b.is_ascii_digit()) {
        return accept_code(db, user, cred, input).await;
    }
    let used = sqlx::query(
        "update totp_recovery_codes set used_at = now() where user_id = $1 and code_hash = $2 and used_at is null",
    )
    .bind(user)
    .bind(recovery_digest(input))
    .execute(db)
    .await?;
    Ok(used.rows_affected() == 1)
}

/// Confirm enrolment and store fresh recovery codes; returns them (shown once).
///
/// # Errors
/// Database failure.
pub async fn confirm(tx: &mut Transaction<'_, Postgres>, user: UserId) -> Result<Vec<String>, AuthApiError> {
    sqlx::query("update totp_credentials set confirmed_at = now() where user_id = $1")
        .bind(user)
        .execute(&mut **tx)
        .await?;
    sqlx::query("delete from totp_recovery_codes where user_id = $1").bind(user).execute(&mut **tx).await?;
    let codes = new_recovery_codes();
    for code in &codes {
        sqlx::query("insert into totp_recovery_codes (user_id, code_hash) values ($1, $2)")
            .bind(user)
            .bind(recovery_digest(code))
            .execute(&mut **tx)
            .await?;
    }
    Ok(codes)
}

/// Remove the authenticator and recovery codes of `user`.
///
/// # Errors
/// Database failure.
pub async fn remove(tx: &mut Transaction<'_, Postgres>, user: UserId) -> Result<(), AuthApiError> {
    sqlx::query("delete from totp_recovery_codes where user_id = $1").bind(user).execute(&mut **tx).await?;
    sqlx::query("delete from totp_credentials where user_id = $1").bind(user).execute(&mut **tx).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6238_sha1_vectors() {
        // RFC 6238 appendix B (8 digits there; the last 6 here).
        let secret = b"12345678901234567890";
        assert_eq!(code_at(secret, 59 / 30), 287_082);
        assert_eq!(code_at(secret, 1_111_111_109 / 30), 81_804);
        assert_eq!(code_at(secret, 1_234_567_890 / 30), 5_924);
        assert_eq!(code_at(secret, 2_000_000_000 / 30), 279_037);
    }

    #[test]
    fn base32_matches_rfc_4648() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(&[0u8; 20]).len(), 32);
        let secret = new_secret();
        assert_eq!(base32_decode(&base32(&secret).to_lowercase()), Some(secret));
        assert_eq!(base32_decode("MZXW6YTBOI======"), Some(b"foobar".to_vec()));
        assert_eq!(base32_decode("M1"), None);
    }

    #[test]
    fn codes_match_one_step_either_side_and_never_at_or_before_the_last_step() {
        let secret = new_secret();
        let now = 1_700_000_000;
        let step = step_of(now);
        let code = format!("{:06}", code_at(&secret, step));
        assert_eq!(matching_step(&secret, &code, now, 0), Some(step));
        assert_eq!(matching_step(&secret, &code, now + 30, 0), Some(step));
        assert_eq!(matching_step(&secret, &code, now + 90, 0), None);
        assert_eq!(matching_step(&secret, &code, now, step), None, "replay refused");
        assert_eq!(matching_step(&secret, "12345", now, 0), None);
        assert_eq!(matching_step(&secret, "abcdef", now, 0), None);
    }

    #[test]
    fn sealed_secrets_open_only_with_their_key() {
        let key = [7u8; 32];
        let (stored, sealed) = seal(Some(&key), b"secret-secret-secret").unwrap();
        assert!(sealed && stored.len() > 20);
        assert_eq!(open(Some(&key), &stored, true).unwrap(), b"secret-secret-secret");
        assert!(open(Some(&[8u8; 32]), &stored, true).is_err());
        assert!(open(None, &stored, true).is_err());
        assert_eq!(seal(None, b"x").unwrap(), (b"x".to_vec(), false));
    }

    #[test]
    fn recovery_codes_are_distinct_and_forgiving_to_type() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        assert_eq!(codes[0].len(), 19);
        assert_eq!(recovery_digest(&codes[0]), recovery_digest(&codes[0].to_uppercase().replace('-', " ")));
        assert_ne!(recovery_digest(&codes[0]), recovery_digest(&codes[1]));
        assert!(otpauth_uri("ABC", "ann@example.com").contains("Tandem:ann%40example.com?secret=ABC"));
    }
}
