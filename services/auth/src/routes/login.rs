use crate::domain::Email;
use crate::error::AuthApiError;
use crate::routes::{ErrorDoc, TokenResponse};
use crate::throttle;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
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

/// The client address throttling keys on: the TCP peer. Forwarded headers are not trusted,
/// since a client could rotate them to dodge the throttle.
pub fn client_address(req: &HttpRequest) -> String {
    req.peer_addr().map(|a| a.ip().to_string()).unwrap_or_else(|| "unknown".into())
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
    let client = client_address(&req);
    let normalized = email.normalized();
    if let Some(retry_after) = throttle::retry_after(&core.redis, &normalized, &client).await? {
        return Err(AuthApiError::Throttled { retry_after });
    }
    if body.password.len() > 1024 {
        return Err(AuthApiError::InvalidCredentials);
    }
    let creds = crate::users::credentials(&core.db, &email).await?;
    let hash = match &creds {
        Some(c) => c.password_hash.clone(),
        None => crate::password::dummy_hash().await,
    };
    let ok = crate::password::verify(body.password, hash).await? && creds.is_some();
    let Some(creds) = creds.filter(|_| ok) else {
        throttle::record_failure(&core.redis, &normalized, &client).await?;
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
