//! Per-slot media tokens: the broker signs them, the relay verifies them without calling the broker.
//!
//! # Token format
//! A media token is the ASCII string
//!
//! ```text
//! <slot_id>.<room_id>.<grant>.<scope>.<user_id>.<generation>.<exp>.<sig>
//! ```
//!
//! - `slot_id`, `room_id`, `user_id`: hyphenated lowercase UUIDs; the user is the one the token
//!   was issued to, so a token passed on still counts against that user's session caps;
//! - `grant`: `publish` (may push media into the slot over WHIP) or `play` (may pull it over WHEP);
//! - `scope`: `shared` (broadcasts) or `exclusive` (a private room: one play session per token
//!   and user);
//! - `generation`: the slot's publish generation when the token was issued; the broker bumps it
//!   whenever a broadcast's stage changes, and the relay refuses (and ends) publishers whose
//!   generation is older than the slot's;
//! - `exp`: expiry, Unix seconds;
//! - `sig`: lowercase hex of `HMAC-SHA256(secret, "<slot_id>|<room_id>|<grant>|<scope>|<user_id>|<generation>|<exp>")`.
//!
//! The relay takes the token from `Authorization: Bearer <token>` on the WHIP/WHEP request, calls
//! [`MediaKey::verify`] and checks that the token's slot is the slot in the URL
//! ([`MediaKey::verify_for`] does both). The secret comes from `TANDEM_MEDIA_TOKEN_SECRET`; in
//! development, when unset, it is generated once into `<data dir>/media-token.secret` (see
//! [`MediaKey::load_or_generate`]), so every process of one machine shares it.
//!
//! # Slot state reports
//! The relay tells the broker when a slot starts or stops publishing with
//! `POST /internal/v1/slots/{slot_id}/state` and body `{"publishing": bool, "ts": <unix secs>}`,
//! signed with the same secret: header `X-Tandem-Signature: <hex>` where the hex is
//! [`MediaKey::slot_state_signature`] (HMAC over `"slot-state|<slot_id>|<publishing>|<ts>"`).

use crate::config::{CoreSettings, Environment};
use crate::ids::{RoomId, SlotId, UserId};
use anyhow::Context;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

type HmacSha256 = Hmac<Sha256>;

/// Header carrying the signature of an internal slot-state report.
pub const SLOT_STATE_SIGNATURE_HEADER: &str = "x-tandem-signature";

/// What a media token allows on its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaGrant {
    /// Push media into the slot (WHIP).
    Publish,
    /// Pull the slot's media (WHEP).
    Play,
}

impl MediaGrant {
    /// `publish` or `play`.
    pub fn as_str(&self) -> &'static str {
        match self {
            MediaGrant::Publish => "publish",
            MediaGrant::Play => "play",
        }
    }
}

impl fmt::Display for MediaGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MediaGrant {
    type Err = MediaTokenError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "publish" => Ok(MediaGrant::Publish),
            "play" => Ok(MediaGrant::Play),
            _ => Err(MediaTokenError::Malformed),
        }
    }
}

/// How many sessions one token (and its user) may hold on a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaScope {
    /// A broadcast: the relay's configured per-token and per-user caps apply.
    Shared,
    /// A private room: one play session per token and per user.
    Exclusive,
}

impl MediaScope {
    /// `shared` or `exclusive`.
    pub fn as_str(&self) -> &'static str {
        match self {
            MediaScope::Shared => "shared",
            MediaScope::Exclusive => "exclusive",
        }
    }
}

impl fmt::Display for MediaScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MediaScope {
    type Err = MediaTokenError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "shared" => Ok(MediaScope::Shared),
            "exclusive" => Ok(MediaScope::Exclusive),
            _ => Err(MediaTokenError::Malformed),
        }
    }
}

/// What a verified media token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaClaims {
    /// The slot the token is for.
    pub slot_id: SlotId,
    /// The room of that slot.
    pub room_id: RoomId,
    /// What it allows.
    pub grant: MediaGrant,
    /// Shared (broadcast) or exclusive (private room).
    pub scope: MediaScope,
    /// The user it was issued to.
    pub user_id: UserId,
    /// The slot's publish generation at issue.
    pub generation: u32,
    /// Expiry, Unix seconds.
    pub exp: i64,
}

impl MediaClaims {
    fn message(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}|{}|{}",
            self.slot_id, self.room_id, self.grant, self.scope, self.user_id, self.generation, self.exp
        )
    }
}

/// Why a media token or signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MediaTokenError {
    /// Not in the documented shape.
    #[error("the media token is malformed")]
    Malformed,
    /// The signature does not match.
    #[error("the media token signature is invalid")]
    BadSignature,
    /// Past its expiry.
    #[error("the media token has expired")]
    Expired,
    /// Valid, but for another slot or grant.
    #[error("the media token is not for this slot")]
    WrongSlot,
}

/// The shared secret that signs media tokens and slot-state reports.
///
/// Cloning is cheap. `Debug` never prints the secret.
#[derive(Clone)]
pub struct MediaKey {
    secret: Arc<[u8]>,
}

impl fmt::Debug for MediaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MediaKey").finish_non_exhaustive()
    }
}

impl MediaKey {
    /// A key from secret bytes.
    ///
    /// # Errors
    /// A secret shorter than 16 bytes.
    pub fn new(secret: impl AsRef<[u8]>) -> anyhow::Result<Self> {
        let secret = secret.as_ref();
        anyhow::ensure!(secret.len() >= 16, "the media token secret must be at least 16 bytes");
        Ok(Self { secret: secret.into() })
    }

    /// A fresh random key (tests).
    pub fn generate() -> Self {
        let bytes: [u8; 32] = rand::random();
        Self { secret: bytes.as_slice().into() }
    }

    /// `TANDEM_MEDIA_TOKEN_SECRET`, or in development a secret generated once into
    /// `<data dir>/media-token.secret` and reused by every process of the machine.
    ///
    /// # Errors
    /// Unset in production, too short, or the file cannot be read or written.
    pub fn load_or_generate(settings: &CoreSettings) -> anyhow::Result<Self> {
        if let Some(secret) = std::env::var("TANDEM_MEDIA_TOKEN_SECRET").ok().filter(|s| !s.trim().is_empty()) {
            return Self::new(secret.trim().as_bytes()).context("TANDEM_MEDIA_TOKEN_SECRET");
        }
        if settings.environment == Environment::Production {
            anyhow::bail!("TANDEM_MEDIA_TOKEN_SECRET must be set in production");
        }
        let path = settings.data_dir.join("media-token.secret");
        if let Ok(existing) = std::fs::read_to_string(&path) {
            return Self::new(existing.trim().as_bytes()).with_context(|| format!("{}", path.display()));
        }
        std::fs::create_dir_all(&settings.data_dir)
            .with_context(|| format!("Failed to create {}", settings.data_dir.display()))?;
        let bytes: [u8; 32] = rand::random();
        let secret = hex::encode(bytes);
        write_private(&path, secret.as_bytes())?;
        tracing::warn!(path = %path.display(), "no TANDEM_MEDIA_TOKEN_SECRET: generated a development media-token secret");
        Self::new(secret.as_bytes())
    }

    fn mac(&self, msg: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.secret).expect("HMAC takes keys of any length");
        mac.update(msg.as_bytes());
        mac
    }

    fn check(&self, msg: &str, sig_hex: &str) -> bool {
        match hex::decode(sig_hex) {
            Ok(sig) => self.mac(msg).verify_slice(&sig).is_ok(),
            Err(_) => false,
        }
    }

    /// Sign a token for `claims`.
    pub fn sign(&self, claims: &MediaClaims) -> String {
        let sig = hex::encode(self.mac(&claims.message()).finalize().into_bytes());
        let c = claims;
        format!("{}.{}.{}.{}.{}.{}.{}.{sig}", c.slot_id, c.room_id, c.grant, c.scope, c.user_id, c.generation, c.exp)
    }

    /// Verify a token's shape, signature (constant time) and expiry against `now` (Unix seconds).
    ///
    /// # Errors
    /// Malformed, forged or expired.
    pub fn verify(&self, token: &str, now: i64) -> Result<MediaClaims, MediaTokenError> {
        let parts: Vec<&str> = token.splitn(9, '.').collect();
        let [slot, room, grant, scope, user, generation, exp, sig] = parts[..] else {
            return Err(MediaTokenError::Malformed);
        };
        let malformed = |_| MediaTokenError::Malformed;
        let claims = MediaClaims {
            slot_id: slot.parse().map_err(malformed)?,
            room_id: room.parse().map_err(malformed)?,
            grant: grant.parse()?,
            scope: scope.parse()?,
            user_id: user.parse().map_err(malformed)?,
            generation: generation.parse().map_err(|_| MediaTokenError::Malformed)?,
            exp: exp.parse().map_err(|_| MediaTokenError::Malformed)?,
        };
        if !self.check(&claims.message(), sig) {
            return Err(MediaTokenError::BadSignature);
        }
        if claims.exp < now {
            return Err(MediaTokenError::Expired);
        }
        Ok(claims)
    }

    /// [`MediaKey::verify`], then check the token is for `slot` with `grant`.
    ///
    /// # Errors
    /// As [`MediaKey::verify`], or [`MediaTokenError::WrongSlot`].
    pub fn verify_for(
        &self,
        token: &str,
        slot: SlotId,
        grant: MediaGrant,
        now: i64,
    ) -> Result<MediaClaims, MediaTokenError> {
        let claims = self.verify(token, now)?;
        if claims.slot_id != slot || claims.grant != grant {
            return Err(MediaTokenError::WrongSlot);
        }
        Ok(claims)
    }

    /// Hex signature of a slot-state report (relay → broker).
    pub fn slot_state_signature(&self, slot: SlotId, publishing: bool, ts: i64) -> String {
        hex::encode(self.mac(&format!("slot-state|{slot}|{publishing}|{ts}")).finalize().into_bytes())
    }

    /// Whether `sig_hex` signs this slot-state report (constant-time comparison).
    pub fn verify_slot_state(&self, slot: SlotId, publishing: bool, ts: i64, sig_hex: &str) -> bool {
        self.check(&format!("slot-state|{slot}|{publishing}|{ts}"), sig_hex)
    }
}

/// A short digest identifying one token (its signature is unique to its claims), so the relay
/// can count sessions per token without keeping tokens.
pub fn token_digest(token: &str) -> [u8; 16] {
    use sha2::Digest;
    let hash = Sha256::digest(token.as_bytes());
    let mut id = [0u8; 16];
    id.copy_from_slice(&hash[..16]);
    id
}

fn write_private(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).with_context(|| format!("Failed to create {}", path.display()))?;
    f.write_all(bytes).with_context(|| format!("Failed to write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> MediaClaims {
        MediaClaims {
            slot_id: SlotId::new(),
            room_id: RoomId::new(),
            grant: MediaGrant::Publish,
            scope: MediaScope::Shared,
            user_id: UserId::new(),
            generation: 3,
            exp,
        }
    }

    #[test]
    fn tokens_round_trip() {
        let key = MediaKey::generate();
        let c = claims(2_000);
        let token = key.sign(&c);
        assert_eq!(key.verify(&token, 1_000), Ok(c));
        assert_eq!(key.verify_for(&token, c.slot_id, MediaGrant::Publish, 1_000), Ok(c));
        assert_eq!(key.verify_for(&token, c.slot_id, MediaGrant::Play, 1_000), Err(MediaTokenError::WrongSlot));
        assert_eq!(key.verify_for(&token, SlotId::new(), MediaGrant::Publish, 1_000), Err(MediaTokenError::WrongSlot));
    }

    #[test]
    fn forged_expired_and_malformed_tokens_are_refused() {
        let key = MediaKey::generate();
        let c = claims(2_000);
        let token = key.sign(&c);
        assert_eq!(MediaKey::generate().verify(&token, 1_000), Err(MediaTokenError::BadSignature));
        assert_eq!(key.verify(&token, 2_001), Err(MediaTokenError::Expired));
        let upgraded = token.replace(".publish.", ".play.");
        assert_eq!(key.verify(&upgraded, 1_000), Err(MediaTokenError::BadSignature));
        let extended = token.replace(".2000.", ".9999.");
        assert_eq!(key.verify(&extended, 1_000), Err(MediaTokenError::BadSignature));
        let older = token.replace(".3.2000.", ".2.2000.");
        assert_eq!(key.verify(&older, 1_000), Err(MediaTokenError::BadSignature), "the generation is signed");
        let widened = token.replace(".shared.", ".exclusive.");
        assert_eq!(key.verify(&widened, 1_000), Err(MediaTokenError::BadSignature), "the scope is signed");
        let passed_on = token.replace(&c.user_id.to_string(), &UserId::new().to_string());
        assert_eq!(key.verify(&passed_on, 1_000), Err(MediaTokenError::BadSignature), "the user is signed");
        for bad in ["", "a.b.c.d.e", &format!("{token}.x"), &token[..token.len() - 2]] {
            assert!(key.verify(bad, 1_000).is_err(), "{bad}");
        }
    }

    #[test]
    fn slot_state_signatures_bind_every_field() {
        let key = MediaKey::generate();
        let slot = SlotId::new();
        let sig = key.slot_state_signature(slot, true, 10);
        assert!(key.verify_slot_state(slot, true, 10, &sig));
        assert!(!key.verify_slot_state(slot, false, 10, &sig));
        assert!(!key.verify_slot_state(slot, true, 11, &sig));
        assert!(!key.verify_slot_state(SlotId::new(), true, 10, &sig));
        assert!(!key.verify_slot_state(slot, true, 10, "zz"));
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(MediaKey::new("short").is_err());
        assert!(MediaKey::new("0123456789abcdef").is_ok());
    }
}
