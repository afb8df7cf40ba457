//! Tandem auth service: accounts, passwords, access tokens and refresh-token families.
//!
//! # Layout
//! - [`directory`]: [`directory::Directory`], the user directory other services call.
//! - [`domain`]: validated input values (`Email`, `Handle`, `Password`).
//! - [`password`]: argon2id hashing, off the async threads.
//! - [`refresh`]: opaque refresh tokens, stored hashed, rotated on use, families revoked on reuse.
//! - [`revocations`]: revoked access tokens in PostgreSQL, cached in Redis and refilled when
//!   Redis restarts empty.
//! - [`throttle`]: login throttling per email and client address in Redis.
//! - [`users`]: account storage, including operator creation for the CLI.
//! - [`error`]: [`error::AuthApiError`], the one error type of this service.
//! - [`routes`]: the HTTP handlers under `/v1/auth`, `/v1/me` and `/.well-known/jwks.json`, and
//!   their OpenAPI document ([`openapi`]).

pub mod directory;
pub mod domain;
pub mod error;
pub mod password;
pub mod refresh;
pub mod revocations;
pub mod routes;
pub mod throttle;
pub mod users;

use std::sync::Arc;
use tandem_shared::hooks::UserDirectory;
use tandem_shared::server::{Core, Service};
use tandem_shared::service_auth::ServiceKey;

pub use routes::openapi;

/// The auth service's routes, and the internal user directory.
pub struct AuthService {
    key: ServiceKey,
    directory: Arc<dyn UserDirectory>,
}

impl Service for AuthService {
    fn name(&self) -> &'static str {
        "auth"
    }

    fn configure(&self, cfg: &mut actix_web::web::ServiceConfig) {
        routes::configure(cfg);
        tandem_shared::contracts::users::configure(cfg, &self.key, self.directory.clone());
    }

    fn rate_limited_routes(&self) -> &'static [tandem_shared::rate_limit::http::RouteClass] {
        routes::RATE_LIMITED
    }
}

/// Build the auth service for `core`, install its user directory into `core.hooks`, load the
/// access-token revocations into Redis and keep them there ([`revocations`]).
///
/// # Errors
/// The process cannot sign access tokens, or the revocations cannot be loaded.
pub async fn service(core: &Core) -> anyhow::Result<Arc<dyn Service>> {
    if !core.tokens.can_sign() {
        anyhow::bail!("the auth service needs the private signing key (TANDEM_JWT_PRIVATE_KEY)");
    }
    let directory: Arc<dyn UserDirectory> = Arc::new(directory::Directory::new(core.db.clone()));
    core.hooks.set_users(directory.clone());
    revocations::reload(core).await?;
    revocations::spawn_watcher(core.clone());
    Ok(Arc::new(AuthService { key: core.service_key.clone(), directory }))
}
