//! Short-lived TURN credentials: the TURN REST API scheme coturn implements (`use-auth-secret`
//! with `static-auth-secret`).
//!
//! `username = "<expiry, Unix seconds>:<user id>"` and
//! `credential = base64(HMAC-SHA1(secret, username))`. The TURN server recomputes the credential
//! from the username with the same secret and refuses it after the expiry, so nothing is stored
//! and a leaked credential is worth one user for [`crate::settings::RelaySettings::turn_ttl`].
//! The relay hands every WHIP/WHEP client credentials for the user its media token names (in the
//! RFC 9725 `Link` headers), and makes its own, named `relay`, for its peer connections.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use std::sync::Arc;

/// The secret shared with the TURN server (coturn's `static-auth-secret`). `Debug` hides it.
#[derive(Clone)]
pub struct TurnSecret(Arc<[u8]>);

impl std::fmt::Debug for TurnSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TurnSecret(..)")
    }
}

/// A TURN user name and password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnCredential {
    /// `<expiry>:<who>`.
    pub username: String,
    /// base64 of the HMAC-SHA1 of the user name.
    pub credential: String,
}

impl TurnSecret {
    /// A secret of at least 16 bytes.
    ///
    /// # Errors
    /// A shorter secret.
    pub fn new(secret: &str) -> anyhow::Result<Self> {
        anyhow::ensure!(secret.len() >= 16, "the TURN secret must be at least 16 characters");
        Ok(Self(secret.as_bytes().into()))
    }

    /// Credentials for `who` (a user id, or `relay`) that expire at `expires` (Unix seconds).
    pub fn credential(&self, who: &str, expires: i64) -> TurnCredential {
        let username = format!("{expires}:{who}");
        let mut mac = Hmac::<Sha1>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(username.as_bytes());
        TurnCredential { credential: STANDARD.encode(mac.finalize().into_bytes()), username }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_follow_the_turn_rest_api_scheme() {
        // Reference value from Python: base64(hmac.new(b"north...", username, sha1).digest()).
        let secret = TurnSecret::new("north-north-north").expect("secret");
        let c = secret.credential("5f0c1ad0-4e2b-4c3c-9d6e-0a1b2c3d4e5f", 1_700_000_000);
        assert_eq!(c.username, "1700000000:5f0c1ad0-4e2b-4c3c-9d6e-0a1b2c3d4e5f");
        assert_eq!(c.credential, "L1j9Zhckext8A+TqwR4BlDkErEc=");
        assert_ne!(secret.credential("someone-else", 1_700_000_000).credential, c.credential);
        assert!(TurnSecret::new("short").is_err());
    }
}
