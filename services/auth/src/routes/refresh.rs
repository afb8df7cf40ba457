use crate::error::AuthApiError;
use crate::routes::{ErrorDoc, TokenResponse};
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use tandem_shared::server::Core;
use utoipa::ToSchema;

/// Body of `POST /v1/auth/refresh`.
#[derive(Deserialize, ToSchema)]
pub struct RefreshBody {
    /// The refresh token of the last signup, login or refresh response (single use).
    refresh_token: String,
}

/// Rotate a refresh token and get a new access token (the response has no `user`).
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth", request_body = RefreshBody,
    responses((status = 200, description = "New access and refresh tokens", body = TokenResponse),
        (status = 401, description = "`invalid_refresh_token`, or `refresh_token_reused` (the whole login is signed out)",
            body = ErrorDoc)))]
#[tracing::instrument(name = "refresh", skip_all)]
pub async fn refresh(core: web::Data<Core>, body: web::Json<RefreshBody>) -> Result<HttpResponse, AuthApiError> {
    if body.refresh_token.is_empty() || body.refresh_token.len() > 256 {
        return Err(AuthApiError::InvalidRefreshToken);
    }
    let rotated = crate::refresh::rotate(&core.db, &body.refresh_token).await?;
    let (access, claims) = core.tokens.issue(rotated.user_id, rotated.role)?;
    Ok(HttpResponse::Ok().json(TokenResponse {
        access_token: access,
        token_type: "Bearer",
        expires_in: claims.exp - claims.iat,
        refresh_token: rotated.token,
        user: None,
    }))
}
