//! Tandem auth service: accounts, passwords, access tokens and refresh-token families.
//!
//! # Layout
//! - [`directory`]: [`directory::Directory`], the user directory other services call.
//! - [`domain`]: validated input values (`Email`, `Handle`, `Password`).
//! - [`settings`]: [`settings::AuthSettings`] (mail, argon2 cost, hashing queue, TOTP key).
//! - [`password`]: argon2id hashing on a bounded queue, off the async threads.
//! - [`mail`]: account mail over SMTP, or to files in development.
//! - [`email_tokens`]: single-use tokens sent by email (verification, password reset).
//! - [`totp`]: two-factor sign-in (RFC 6238) and recovery codes.
//! - [`refresh`]: opaque refresh tokens, stored hashed, rotated on use, families revoked on reuse;
//!   each family is a signed-in session its owner can list and revoke.
//! - [`revocations`]: revoked access tokens in PostgreSQL, cached in Redis and refilled when
//!   Redis restarts empty.
//! - [`throttle`]: login throttling per email and client address in Redis.
//! - [`users`]: account storage, including operator creation for the CLI.
//! - [`error`]: [`error::AuthApiError`], the one error type of this service.
//! - [`routes`]: the HTTP handlers under `/v1/auth`, `/v1/me` and `/.well-known/jwks.json`, and
//!   their OpenAPI document ([`openapi`]).

pub mod directory;
pub mod domain;
pub mod email_tokens;
pub mod error;
pub mod mail;
pub mod password;
pub mod refresh;
pub mod revocations;
pub mod routes;
pub mod settings;
pub mod throttle;
pub mod totp;
pub mod users;

use std::sync::Arc;
use tandem_shared::hooks::UserDirectory;
use tandem_shared::rate_limit::RateLimiter;
use tandem_shared::server::{Core, Service};
use tandem_shared::service_auth::ServiceKey;

pub use routes::openapi;

/// What the auth handlers share besides [`tandem_shared::server::Core`] (app data).
pub struct Accounts {
    /// Settings.
    pub settings: settings::AuthSettings,
    /// Password hashing.
    pub hasher: password::Hasher,
    /// Account mail.
    pub mailer: Arc<mail::Mailer>,
    /// Rate limits checked inside handlers (mail to the account a reset is for).
    pub limiter: RateLimiter,
}

/// The auth service's routes, and the internal user directory.
pub struct AuthService {
    key: ServiceKey,
    directory: Arc<dyn UserDirectory>,
    accounts: Arc<Accounts>,
}

impl Service for AuthService {
    fn name(&self) -> &'static str {
        "auth"
    }

    fn configure(&self, cfg: &mut actix_web::web::ServiceConfig) {
        cfg.app_data(actix_web::web::Data::from(self.accounts.clone()));
        routes::configure(cfg);
        tandem_shared::contracts::users::configure(cfg, &self.key, self.directory.clone());
    }

    fn rate_limited_routes(&self) -> &'static [tandem_shared::rate_limit::http::RouteClass] {
        routes::RATE_LIMITED
    }
}

/// Build the auth service for `core` with settings from the environment ([`service_with`]).
///
/// # Errors
/// Settings that do not parse or are refused, and see [`service_with`].
pub async fn service(core: &Core) -> anyhow::Result<Arc<dyn Service>> {
    let settings = settings::AuthSettings::from_env(&core.settings)?;
    service_with(core, settings).await
}

/// Build the auth service for `core`, install its user directory into `core.hooks`, load the
/// access-token revocations into Redis and keep them there ([`revocations`]).
///
/// # Errors
/// The process cannot sign access tokens, the mailer cannot be built, or the revocations cannot
/// be loaded.
pub async fn service_with(core: &Core, settings: settings::AuthSettings) -> anyhow::Result<Arc<dyn Service>> {
    settings.validate(core.settings.environment)?;
    if !core.tokens.can_sign() {
        anyhow::bail!("the auth service needs the private signing key (TANDEM_JWT_PRIVATE_KEY)");
    }
    let directory: Arc<dyn UserDirectory> = Arc::new(directory::Directory::new(core.db.clone()));
    core.hooks.set_users(directory.clone());
    revocations::reload(core).await?;
    revocations::spawn_watcher(core.clone());
    let mailer = mail::Mailer::new(
        settings.smtp_url.as_deref(),
        &settings.mail_from,
        &core.settings.data_dir,
        &core.settings.public_url,
    )?;
    let accounts = Arc::new(Accounts {
        hasher: password::Hasher::new(settings.argon2, settings.hash_queue)?,
        mailer: Arc::new(mailer),
        limiter: RateLimiter::new(core.redis.clone(), core.settings.rate_limits.clone()),
        settings,
    });
    if accounts.settings.dev_verified_signups {
        tracing::warn!("TANDEM_DEV_VERIFIED_SIGNUPS=1: new accounts start with a verified email (development only)");
    }
    Ok(Arc::new(AuthService { key: core.service_key.clone(), directory, accounts }))
}
