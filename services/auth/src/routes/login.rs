use crate::domain::Email;
use crate::error::AuthApiError;
use crate::routes::{ErrorDoc, TokenResponse};
use crate::throttle::{self, Reservation};
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
}

/// The client address throttling keys on: the TCP peer, or the address a trusted proxy
/// forwarded (`TANDEM_TRUSTED_PROXIES`; see [`tandem_shared::client_addr`]).
pub fn client_address(req: &HttpRequest, trusted: &TrustedProxies) -> String {
    client_ip(req, trusted).map_or_else(|| "unknown".into(), |ip| ip.to_string())
}

/// Exchange email and password for tokens.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = LoginBody,
    responses((status = 200, description = "Signed in", body = TokenResponse),
        (status = 401, description = "`invalid_credentials`", body = ErrorDoc),
        (status = 429, description = "`too_many_attempts` (see `Retry-After`)", body = ErrorDoc)))]
#[tracing::instrument(name = "login", skip_all)]
pub async fn login(
    core: web::Data<Core>,
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
    let hash = match &creds {
        Some(c) => c.password_hash.clone(),
        None => crate::password::dummy_hash().await,
    };
    let ok = crate::password::verify(body.password, hash).await? && creds.is_some();
    let Some(creds) = creds.filter(|_| ok) else {
        // The reservation stays counted as a failure.
        return Err(AuthApiError::InvalidCredentials);
    };
    throttle::reset(&core.redis, &normalized, &client).await?;
    let role: Role = creds.role.parse().map_err(|e: String| AuthApiError::Internal(anyhow::anyhow!(e)))?;
    let user = crate::users::by_id(&core.db, creds.user_id)
        .await?
        .ok_or_else(|| AuthApiError::Internal(anyhow::anyhow!("user vanished during login")))?;
    let session = super::new_session(&core, user, role).await?;
    Ok(HttpResponse::Ok().json(session))
}
