use crate::error::AuthApiError;
use crate::refresh::SessionMeta;
use crate::routes::{ErrorDoc, TokenResponse};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use tandem_shared::jwt::Grants;
use tandem_shared::server::Core;
use utoipa::ToSchema;

/// Body of `POST /v1/auth/refresh`.
#[derive(Deserialize, ToSchema)]
pub struct RefreshBody {
    /// The refresh token of the last signup, login or refresh response (single use).
    refresh_token: String,
}

/// Rotate a refresh token and get a new access token (the response has no `user`). The new
/// access token carries the account's email state as it is now (sign in again is not needed
/// after verifying).
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth", request_body = RefreshBody,
    responses((status = 200, description = "New access and refresh tokens", body = TokenResponse),
        (status = 401, description = "`invalid_refresh_token`, or `refresh_token_reused` (the whole login is signed out)",
            body = ErrorDoc)))]
#[tracing::instrument(name = "refresh", skip_all)]
pub async fn refresh(
    core: web::Data<Core>,
    req: HttpRequest,
    body: web::Json<RefreshBody>,
) -> Result<HttpResponse, AuthApiError> {
    if body.refresh_token.is_empty() || body.refresh_token.len() > 256 {
        return Err(AuthApiError::InvalidRefreshToken);
    }
    let meta = SessionMeta::of(&req, &core.settings.trusted_proxies, false);
    let rotated = crate::refresh::rotate(&core.db, &body.refresh_token, Some(&meta)).await?;
    // The session's second factor, and the account's email state as it is now.
    let grants = Grants { family: Some(rotated.family), mfa: rotated.mfa, email_verified: rotated.email_verified };
    let (access, claims) = core.tokens.issue_with(rotated.user_id, rotated.role, grants)?;
    Ok(HttpResponse::Ok().json(TokenResponse {
        access_token: access,
        token_type: "Bearer",
        expires_in: claims.exp - claims.iat,
        refresh_token: rotated.token,
        user: None,
    }))
}
