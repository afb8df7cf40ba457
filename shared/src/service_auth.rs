//! Service-to-service authentication for internal routes (`/internal/...`).
//!
//! Every internal call carries `Authorization: Bearer <service token>`: an HS256 JWT signed with
//! the deployment's shared `TANDEM_SERVICE_SECRET`, naming the calling service (`sub`), with
//! issuer `tandem-service`, audience `tandem-internal` and a 60 s lifetime. End-user access
//! tokens (EdDSA, another issuer) can never pass: the algorithm, key, issuer and audience are
//! all pinned. Verifying is one HMAC, so refusing a forged call costs next to nothing.
//!
//! In development the secret is generated into `<data dir>/service-secret` on first use, so the
//! processes of one machine share it; in production it must be configured.

use crate::config::{CoreSettings, Environment};
use crate::error::error_response;
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use anyhow::Context;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::future::{ready, Ready};
use std::sync::Arc;

const ISSUER: &str = "tandem-service";
const AUDIENCE: &str = "tandem-internal";
/// Lifetime of a service token.
const TTL_SECS: i64 = 60;
/// Shortest secret accepted.
const MIN_SECRET_LEN: usize = 32;

/// A Tandem service, as a caller of internal routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceName {
    /// Accounts and tokens.
    Auth,
    /// Rooms and slots.
    Broker,
    /// WebSockets.
    Signaling,
    /// Money.
    Billing,
    /// Media relay.
    Relay,
    /// The web app and API documents (calls nobody; named for logs).
    Web,
}

impl ServiceName {
    /// Lowercase name.
    pub fn as_str(&self) -> &'static str {
        match self {
            ServiceName::Auth => "auth",
            ServiceName::Broker => "broker",
            ServiceName::Signaling => "signaling",
            ServiceName::Billing => "billing",
            ServiceName::Relay => "relay",
            ServiceName::Web => "web",
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct ServiceClaims {
    sub: ServiceName,
    iss: String,
    aud: String,
    iat: i64,
    exp: i64,
}

/// Signs and verifies service tokens with the shared secret.
#[derive(Clone)]
pub struct ServiceKey {
    encoding: Arc<EncodingKey>,
    decoding: Arc<DecodingKey>,
}

impl std::fmt::Debug for ServiceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServiceKey(..)")
    }
}

impl ServiceKey {
    /// A key from secret bytes.
    ///
    /// # Errors
    /// The secret is shorter than 32 bytes.
    pub fn from_secret(secret: &[u8]) -> anyhow::Result<Self> {
        anyhow::ensure!(
            secret.len() >= MIN_SECRET_LEN,
            "TANDEM_SERVICE_SECRET must be at least {MIN_SECRET_LEN} characters"
        );
        Ok(Self {
            encoding: Arc::new(EncodingKey::from_secret(secret)),
            decoding: Arc::new(DecodingKey::from_secret(secret)),
        })
    }

    /// A random key (tests).
    pub fn generate() -> Self {
        use rand::RngCore;
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let secret = hex::encode(bytes);
        Self::from_secret(secret.as_bytes()).expect("64 hex digits are long enough")
    }

    /// `TANDEM_SERVICE_SECRET`, or in development `<data dir>/service-secret` (generated once).
    ///
    /// # Errors
    /// Production without the variable, a short secret, or an unwritable data directory.
    pub fn load_or_generate(settings: &CoreSettings) -> anyhow::Result<Self> {
        if let Ok(secret) = std::env::var("TANDEM_SERVICE_SECRET") {
            if !secret.trim().is_empty() {
                return Self::from_secret(secret.trim().as_bytes());
            }
        }
        anyhow::ensure!(
            settings.environment == Environment::Development,
            "TANDEM_SERVICE_SECRET is required in production (a random string of at least {MIN_SECRET_LEN} characters shared by every service)"
        );
        let path = settings.data_dir.join("service-secret");
        if let Ok(existing) = std::fs::read_to_string(&path) {
            return Self::from_secret(existing.trim().as_bytes())
                .with_context(|| format!("{} is not a usable service secret", path.display()));
        }
        use rand::RngCore;
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let secret = hex::encode(bytes);
        std::fs::create_dir_all(&settings.data_dir)
            .with_context(|| format!("Failed to create {}", settings.data_dir.display()))?;
        if let Err(e) = crate::jwt::write_private_file(&path, secret.as_bytes()) {
            if !path.exists() {
                return Err(e);
            }
        }
        tracing::warn!(path = %path.display(), "generated a development service secret (set TANDEM_SERVICE_SECRET in production)");
        // Another process may have won the race to create it: use whatever is on disk now.
        let on_disk = std::fs::read_to_string(&path).unwrap_or(secret);
        Self::from_secret(on_disk.trim().as_bytes())
    }

    /// A fresh token for `caller`.
    ///
    /// # Errors
    /// Signing failed (never with a valid key).
    pub fn mint(&self, caller: ServiceName) -> anyhow::Result<String> {
        let now = chrono::Utc::now().timestamp();
        let claims =
            ServiceClaims { sub: caller, iss: ISSUER.into(), aud: AUDIENCE.into(), iat: now, exp: now + TTL_SECS };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .context("Failed to sign a service token")
    }

    /// The calling service of a valid token.
    ///
    /// # Errors
    /// [`ServiceAuthError::Invalid`] for anything but a valid, unexpired service token.
    pub fn verify(&self, token: &str) -> Result<ServiceName, ServiceAuthError> {
        // Bound the work before any parsing: a service token is a few hundred bytes.
        if token.len() > 1024 {
            return Err(ServiceAuthError::Invalid);
        }
        let mut v = Validation::new(Algorithm::HS256);
        v.set_issuer(&[ISSUER]);
        v.set_audience(&[AUDIENCE]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        v.leeway = 5;
        jsonwebtoken::decode::<ServiceClaims>(token, &self.decoding, &v)
            .map(|d| d.claims.sub)
            .map_err(|_| ServiceAuthError::Invalid)
    }
}

/// Why an internal call was refused.
#[derive(Debug, thiserror::Error)]
pub enum ServiceAuthError {
    /// No valid service token.
    #[error("a service token is required")]
    Invalid,
    /// A valid service that may not call this route.
    #[error("this service may not call this route")]
    Forbidden,
    /// The route is mounted without a service key (a wiring bug).
    #[error("internal routes are not configured")]
    Unconfigured,
}

impl ResponseError for ServiceAuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            ServiceAuthError::Invalid => StatusCode::UNAUTHORIZED,
            ServiceAuthError::Forbidden => StatusCode::FORBIDDEN,
            ServiceAuthError::Unconfigured => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let code = match self {
            ServiceAuthError::Invalid => "unauthenticated",
            ServiceAuthError::Forbidden => "forbidden",
            ServiceAuthError::Unconfigured => "unavailable",
        };
        error_response(self.status_code(), code, self.to_string())
    }
}

/// The verified calling service of an internal request.
#[derive(Debug, Clone, Copy)]
pub struct ServiceCaller(pub ServiceName);

impl ServiceCaller {
    /// Refuse with 403 unless the caller is one of `allowed`.
    ///
    /// # Errors
    /// [`ServiceAuthError::Forbidden`].
    pub fn require(&self, allowed: &[ServiceName]) -> Result<(), ServiceAuthError> {
        if allowed.contains(&self.0) {
            Ok(())
        } else {
            Err(ServiceAuthError::Forbidden)
        }
    }
}

impl FromRequest for ServiceCaller {
    type Error = ServiceAuthError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(key) = req.app_data::<web::Data<ServiceKey>>() else {
            tracing::error!("an internal route is mounted without a ServiceKey");
            return ready(Err(ServiceAuthError::Unconfigured));
        };
        let result = match crate::auth::bearer_token(req) {
            Some(token) => key.verify(token).map(ServiceCaller),
            None => Err(ServiceAuthError::Invalid),
        };
        ready(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_verify_and_name_the_caller() {
        let key = ServiceKey::generate();
        let token = key.mint(ServiceName::Signaling).unwrap();
        assert_eq!(key.verify(&token).unwrap(), ServiceName::Signaling);
    }

    #[test]
    fn another_secret_or_shape_is_refused() {
        let token = ServiceKey::generate().mint(ServiceName::Broker).unwrap();
        let other = ServiceKey::generate();
        assert!(other.verify(&token).is_err());
        assert!(other.verify("not.a.token").is_err());
        assert!(other.verify(&"a".repeat(5000)).is_err());
    }

    #[test]
    fn expired_tokens_are_refused() {
        let key = ServiceKey::generate();
        let claims = ServiceClaims {
            sub: ServiceName::Billing,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            iat: 0,
            exp: chrono::Utc::now().timestamp() - 60,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key.encoding).unwrap();
        assert!(key.verify(&token).is_err());
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(ServiceKey::from_secret(b"short").is_err());
    }
}
