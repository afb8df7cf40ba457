use crate::error::AuthApiError;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use tandem_shared::server::Core;

#[derive(Deserialize)]
pub struct RefreshBody {
    refresh_token: String,
}

/// `POST /v1/auth/refresh`: rotate a refresh token and get a new access token.
#[tracing::instrument(name = "refresh", skip_all)]
pub async fn refresh(core: web::Data<Core>, body: web::Json<RefreshBody>) -> Result<HttpResponse, AuthApiError> {
    if body.refresh_token.is_empty() || body.refresh_token.len() > 256 {
        return Err(AuthApiError::InvalidRefreshToken);
    }
    let rotated = crate::refresh::rotate(&core.db, &body.refresh_token).await?;
    let (access, claims) = core.tokens.issue(rotated.user_id, rotated.role)?;
    Ok(HttpResponse::Ok().json(super::TokenResponse {
        access_token: access,
        token_type: "Bearer",
        expires_in: claims.exp - claims.iat,
        refresh_token: rotated.token,
        user: None,
    }))
}
