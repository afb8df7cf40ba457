use crate::domain::Email;
use crate::error::AuthApiError;
use crate::password::HashError;
use crate::refresh::SessionMeta;
use crate::routes::{ErrorDoc, TokenResponse};
use crate::throttle::{self, Reservation};
use crate::Accounts;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use tandem_shared::client_addr::{client_ip, TrustedProxies};
use tandem_shared::ids::Role;
use tandem_shared::server::Core;
use utoipa::ToSchema;

/// Body of `POST /v1/auth/login`.
#[derive(Deserialize, ToSchema)]
pub struct LoginBody {
    /// Email given at signup (any case).
    #[schema(example = "ana@example.com")]
    email: String,
    /// The account's password.
    #[schema(example = "correct horse battery")]
    password: String,
    /// With two-factor sign-in on: the 6-digit code of the authenticator app, or an unused
    /// recovery code.
    #[serde(default)]
    #[schema(example = "123456")]
    totp: Option<String>,
}

/// The client address throttling keys on: the TCP peer, or the address a trusted proxy
/// forwarded (`TANDEM_TRUSTED_PROXIES`; see [`tandem_shared::client_addr`]).
pub fn client_address(req: &HttpRequest, trusted: &TrustedProxies) -> String {
    client_ip(req, trusted).map_or_else(|| "unknown".into(), |ip| ip.to_string())
}

/// Exchange email and password (and, with two-factor sign-in on, a code) for tokens.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = LoginBody,
    responses((status = 200, description = "Signed in", body = TokenResponse),
        (status = 401, description = "`invalid_credentials`; `totp_required` (right password, send `totp` too); \
            `invalid_totp` (wrong or already used code)", body = ErrorDoc),
        (status = 429, description = "`too_many_attempts` (see `Retry-After`)", body = ErrorDoc),
        (status = 503, description = "`overloaded`: too many sign-ins at once; retry after `Retry-After` seconds", body = ErrorDoc)))]
#[tracing::instrument(name = "login", skip_all)]
pub async fn login(
    core: web::Data<Core>,
    accounts: web::Data<Accounts>,
    req: HttpRequest,
    body: web::Json<LoginBody>,
) -> Result<HttpResponse, AuthApiError> {
    let body = body.into_inner();
    let email = Email::parse(&body.email).map_err(|_| AuthApiError::InvalidCredentials)?;
    if body.password.len() > 1024 {
        return Err(AuthApiError::InvalidCredentials);
    }
    let client = client_address(&req, &core.settings.trusted_proxies);
    let normalized = email.normalized();
    // Reserved before hashing: concurrent attempts are counted before any of them is checked.
    if let Reservation::Refused { retry_after } = throttle::reserve(&core.redis, &normalized, &client).await? {
        return Err(AuthApiError::Throttled { retry_after });
    }
    let creds = crate::users::credentials(&core.db, &email).await?;
    let checked = async {
        let hash = match &creds {
            Some(c) => c.password_hash.clone(),
            None => accounts.hasher.dummy_hash().await?,
        };
        accounts.hasher.verify(body.password, hash).await
    }
    .await;
    if matches!(checked, Err(HashError::Busy)) {
        // Shed before the password was checked: not an attempt.
        if let Err(e) = throttle::release(&core.redis, &normalized, &client).await {
            tracing::warn!(error.message = %e, "failed to give back a shed sign-in's throttle slot");
        }
    }
    let ok = checked? && creds.is_some();
    let Some(creds) = creds.filter(|_| ok) else {
        // The reservation stays counted as a failure.
        return Err(AuthApiError::InvalidCredentials);
    };
    // The second factor, when the account has one; wrong codes stay counted by the throttle.
    let key = accounts.settings.totp_key.as_ref();
    let mfa = match crate::totp::load(&core.db, key, creds.user_id).await?.filter(|c| c.confirmed) {
        None => false,
        Some(cred) => {
            let Some(code) = body.totp.as_deref().filter(|c| !c.trim().is_empty()) else {
                return Err(AuthApiError::TotpRequired);
            };
            if !crate::totp::accept_second_factor(&core.db, creds.user_id, &cred, code).await? {
                return Err(AuthApiError::InvalidTotp);
            }
            true
        }
    };
    throttle::reset(&core.redis, &normalized, &client).await?;
    let role: Role = creds.role.parse().map_err(|e: String| AuthApiError::Internal(anyhow::anyhow!(e)))?;
    let user = crate::users::by_id(&core.db, creds.user_id)
        .await?
        .ok_or_else(|| AuthApiError::Internal(anyhow::anyhow!("user vanished during login")))?;
    let meta = SessionMeta::of(&req, &core.settings.trusted_proxies, mfa);
    let session = super::new_session(&core, user, role, &meta).await?;
    Ok(HttpResponse::Ok().json(session))
}
