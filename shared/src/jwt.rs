//! Access tokens: Ed25519-signed JWTs (`alg: EdDSA`), their claims, keys and verification.
//!
//! Verification pins the algorithm to EdDSA (so `alg: none` and HS256-with-the-public-key
//! tokens are refused), and checks the key id, issuer, audience and expiry.

use crate::config::{CoreSettings, Environment};
use crate::ids::{Role, TokenFamilyId, UserId};
use anyhow::Context;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::path::Path;
use uuid::Uuid;

/// Lifetime of an access token.
pub const ACCESS_TOKEN_TTL_SECS: i64 = 15 * 60;

/// The claims of a Tandem access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The user the token speaks for.
    pub sub: UserId,
    /// The user's role when the token was issued.
    pub role: Role,
    /// Issuer; must equal the configured issuer.
    pub iss: String,
    /// Audience; must equal the configured audience.
    pub aud: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// Unique token id, used for revocation on logout.
    pub jti: Uuid,
    /// The refresh-token family (signed-in session) the token was issued for; revoking the
    /// session revokes its access tokens and closes its sockets. Absent on tokens made outside
    /// sign-in (tools, tests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fam: Option<TokenFamilyId>,
    /// Signed in with a second factor (TOTP or a recovery code). Operator routes and payouts
    /// need it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub mfa: bool,
    /// Whether the account's email address was verified when the token was issued. Only
    /// `false` is written; a token without the claim counts as verified.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub email_verified: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_true(b: &bool) -> bool {
    *b
}

fn yes() -> bool {
    true
}

/// What a token says about the session it was issued for (see [`Claims`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grants {
    /// The refresh-token family.
    pub family: Option<TokenFamilyId>,
    /// Signed in with a second factor.
    pub mfa: bool,
    /// The email address is verified.
    pub email_verified: bool,
}

impl Default for Grants {
    /// A token made outside sign-in: no family, no second factor, email counted as verified.
    fn default() -> Self {
        Self { family: None, mfa: false, email_verified: true }
    }
}

/// Why a token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// The token has expired.
    #[error("the access token has expired")]
    Expired,
    /// Anything else: bad signature, algorithm, issuer, audience, shape.
    #[error("the access token is invalid")]
    Invalid,
}

/// An Ed25519 key pair with its key id.
#[derive(Clone)]
pub struct KeyPair {
    kid: String,
    encoding: Option<EncodingKey>,
    public: [u8; 32],
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair").field("kid", &self.kid).finish_non_exhaustive()
    }
}

fn kid_for(public: &[u8; 32]) -> String {
    URL_SAFE_NO_PAD.encode(&public[..9])
}

impl KeyPair {
    /// A fresh random key pair (tests and first dev start).
    pub fn generate() -> Self {
        let signing = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
        Self::from_signing(&signing)
    }

    fn from_signing(signing: &ed25519_dalek::SigningKey) -> Self {
        let der = signing.to_pkcs8_der().expect("an Ed25519 key always encodes");
        let public = signing.verifying_key().to_bytes();
        Self { kid: kid_for(&public), encoding: Some(EncodingKey::from_ed_der(der.as_bytes())), public }
    }

    /// Load a private key from a PKCS#8 PEM string.
    ///
    /// # Errors
    /// The PEM is not an Ed25519 private key.
    pub fn from_private_pem(pem: &str) -> anyhow::Result<Self> {
        let signing =
            ed25519_dalek::SigningKey::from_pkcs8_pem(pem).context("Failed to parse the Ed25519 private key")?;
        Ok(Self::from_signing(&signing))
    }

    /// A verify-only key from an SPKI PEM string.
    ///
    /// # Errors
    /// The PEM is not an Ed25519 public key.
    pub fn from_public_pem(pem: &str) -> anyhow::Result<Self> {
        let verifying =
            ed25519_dalek::VerifyingKey::from_public_key_pem(pem).context("Failed to parse the Ed25519 public key")?;
        let public = verifying.to_bytes();
        Ok(Self { kid: kid_for(&public), encoding: None, public })
    }

    /// The key id written in token headers and the JWKS.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Whether this pair can sign (has the private half).
    pub fn can_sign(&self) -> bool {
        self.encoding.is_some()
    }

    /// The public key as a JWK (`kty: OKP`, `crv: Ed25519`).
    pub fn jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": URL_SAFE_NO_PAD.encode(self.public),
            "kid": self.kid,
            "alg": "EdDSA",
            "use": "sig",
        })
    }

    fn write_pems(signing: &ed25519_dalek::SigningKey, private: &Path, public: &Path) -> anyhow::Result<()> {
        let private_pem = signing
            .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .context("Failed to encode the private key")?;
        let public_pem = signing
            .verifying_key()
            .to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .context("Failed to encode the public key")?;
        write_private_file(private, private_pem.as_bytes())?;
        std::fs::write(public, public_pem).with_context(|| format!("Failed to write {}", public.display()))?;
        Ok(())
    }

    /// Load the configured keys, or in development generate a pair once under the data directory.
    ///
    /// # Errors
    /// Unreadable or malformed key files, or no key configured in production.
    pub fn load_or_generate(settings: &CoreSettings) -> anyhow::Result<Self> {
        if let Some(path) = &settings.jwt_private_key {
            let pem = std::fs::read_to_string(path).with_context(|| format!("Failed to read {}", path.display()))?;
            return Self::from_private_pem(&pem);
        }
        if let Some(path) = &settings.jwt_public_key {
            let pem = std::fs::read_to_string(path).with_context(|| format!("Failed to read {}", path.display()))?;
            return Self::from_public_pem(&pem);
        }
        let private = settings.data_dir.join("jwt-ed25519.pem");
        let public = settings.data_dir.join("jwt-ed25519.pub.pem");
        if private.exists() {
            let pem =
                std::fs::read_to_string(&private).with_context(|| format!("Failed to read {}", private.display()))?;
            return Self::from_private_pem(&pem);
        }
        if settings.environment == Environment::Production {
            anyhow::bail!("TANDEM_JWT_PRIVATE_KEY or TANDEM_JWT_PUBLIC_KEY must be set in production");
        }
        std::fs::create_dir_all(&settings.data_dir)
            .with_context(|| format!("Failed to create {}", settings.data_dir.display()))?;
        let signing = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
        Self::write_pems(&signing, &private, &public)?;
        tracing::warn!(
            path = %private.display(),
            "no signing key configured: generated a development Ed25519 key pair (set TANDEM_JWT_PRIVATE_KEY in production)"
        );
        Ok(Self::from_signing(&signing))
    }
}

pub(crate) fn write_private_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
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

/// Signs and verifies access tokens with one key pair and pinned claims.
#[derive(Clone)]
pub struct Tokens {
    access_ttl_secs: i64,
    key: KeyPair,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
}

impl Tokens {
    /// Build from a key pair and the pinned issuer and audience.
    pub fn new(key: KeyPair, issuer: &str, audience: &str) -> Self {
        let decoding = DecodingKey::from_ed_der(&key.public);
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.algorithms = vec![Algorithm::EdDSA];
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub", "iat"]);
        validation.leeway = 5;
        Self {
            access_ttl_secs: ACCESS_TOKEN_TTL_SECS,
            key,
            decoding,
            validation,
            issuer: issuer.into(),
            audience: audience.into(),
        }
    }

    /// Issue access tokens that live `secs` seconds instead of [`ACCESS_TOKEN_TTL_SECS`].
    #[must_use]
    pub fn with_access_ttl(mut self, secs: i64) -> Self {
        self.access_ttl_secs = secs.max(1);
        self
    }

    /// Whether this process can issue tokens (holds the private key).
    pub fn can_sign(&self) -> bool {
        self.key.can_sign()
    }

    /// The JWKS document listing the verifying key.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": [self.key.jwk()] })
    }

    /// Issue an access token for a user; returns the token and its claims.
    ///
    /// # Errors
    /// This process only holds the public key.
    pub fn issue(&self, user: UserId, role: Role) -> anyhow::Result<(String, Claims)> {
        self.issue_with(user, role, Grants::default())
    }

    /// Issue an access token for a signed-in session described by `grants`.
    ///
    /// # Errors
    /// This process only holds the public key.
    pub fn issue_with(&self, user: UserId, role: Role, grants: Grants) -> anyhow::Result<(String, Claims)> {
        let encoding = self.key.encoding.as_ref().context("this process has no signing key")?;
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user,
            role,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now,
            exp: now + self.access_ttl_secs,
            jti: Uuid::new_v4(),
            fam: grants.family,
            mfa: grants.mfa,
            email_verified: grants.email_verified,
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.key.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, encoding).context("Failed to sign an access token")?;
        Ok((token, claims))
    }

    /// Verify a token: algorithm, key id, signature, issuer, audience and expiry.
    ///
    /// # Errors
    /// [`TokenError::Expired`] or [`TokenError::Invalid`].
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Invalid);
        }
        if let Some(kid) = &header.kid {
            if kid != &self.key.kid {
                return Err(TokenError::Invalid);
            }
        }
        match jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation) {
            Ok(data) => Ok(data.claims),
            Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature) => Err(TokenError::Expired),
            Err(_) => Err(TokenError::Invalid),
        }
    }

    /// Sign arbitrary claims with this key (tests build expired or foreign tokens with it).
    ///
    /// # Errors
    /// No signing key, or the claims do not serialize.
    pub fn sign_raw(&self, claims: &serde_json::Value) -> anyhow::Result<String> {
        let encoding = self.key.encoding.as_ref().context("this process has no signing key")?;
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.key.kid.clone());
        Ok(jsonwebtoken::encode(&header, claims, encoding)?)
    }

    /// The raw 32-byte public key (tests forge HS256 tokens with it).
    pub fn public_key_bytes(&self) -> [u8; 32] {
        self.key.public
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        Tokens::new(KeyPair::generate(), "tandem", "tandem")
    }

    #[test]
    fn issued_tokens_verify() {
        let t = tokens();
        let user = UserId::new();
        let (token, claims) = t.issue(user, Role::Fan).unwrap();
        assert_eq!(t.verify(&token).unwrap(), claims);
        assert_eq!(claims.sub, user);
    }

    #[test]
    fn session_grants_round_trip_and_old_tokens_count_as_verified() {
        let t = tokens();
        let grants = Grants { family: Some(TokenFamilyId::new()), mfa: true, email_verified: false };
        let (token, claims) = t.issue_with(UserId::new(), Role::Creator, grants).unwrap();
        let back = t.verify(&token).unwrap();
        assert_eq!(back, claims);
        assert_eq!((back.fam, back.mfa, back.email_verified), (grants.family, true, false));
        // A token without the new claims (issued before they existed): verified, no second factor.
        let (plain, _) = t.issue(UserId::new(), Role::Fan).unwrap();
        let c = t.verify(&plain).unwrap();
        assert_eq!((c.fam, c.mfa, c.email_verified), (None, false, true));
    }

    #[test]
    fn a_token_from_another_key_is_invalid() {
        let (token, _) = tokens().issue(UserId::new(), Role::Fan).unwrap();
        assert_eq!(tokens().verify(&token), Err(TokenError::Invalid));
    }

    #[test]
    fn wrong_audience_is_invalid() {
        let key = KeyPair::generate();
        let other = Tokens::new(key.clone(), "tandem", "elsewhere");
        let (token, _) = other.issue(UserId::new(), Role::Fan).unwrap();
        assert_eq!(Tokens::new(key, "tandem", "tandem").verify(&token), Err(TokenError::Invalid));
    }

    #[test]
    fn pem_round_trip_keeps_the_key_id() {
        let signing = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
        let pem = signing.to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF).unwrap();
        let pub_pem =
            signing.verifying_key().to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF).unwrap();
        let a = KeyPair::from_private_pem(&pem).unwrap();
        let b = KeyPair::from_public_pem(&pub_pem).unwrap();
        assert_eq!(a.kid(), b.kid());
        let (token, _) = Tokens::new(a, "i", "a").issue(UserId::new(), Role::Creator).unwrap();
        assert!(Tokens::new(b, "i", "a").verify(&token).is_ok());
    }
}
