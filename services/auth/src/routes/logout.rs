use crate::error::AuthApiError;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use tandem_shared::auth::bearer_token;
use tandem_shared::events::publish_token_revoked;
use tandem_shared::server::Core;
use utoipa::ToSchema;

/// Body of `POST /v1/auth/logout`.
#[derive(Deserialize, ToSchema)]
pub struct LogoutBody {
    /// The current refresh token; its whole family is revoked.
    refresh_token: String,
}

/// Sign out: revoke the refresh-token family (the session) with its access tokens, and the
/// presented access token (if any) until it would have expired, and tell signaling to close the
/// sockets of both. Idempotent: always 204.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth", request_body = LogoutBody,
    security((), ("bearer" = [])),
    responses((status = 204, description = "Signed out (also for unknown tokens)")))]
#[tracing::instrument(name = "logout", skip_all)]
pub async fn logout(
    core: web::Data<Core>,
    req: HttpRequest,
    body: web::Json<LogoutBody>,
) -> Result<HttpResponse, AuthApiError> {
    if body.refresh_token.len() <= 256 {
        if let Some((family, user)) = crate::refresh::revoke_by_token(&core.db, &body.refresh_token).await? {
            // Every access token and socket of this session, not only the presented one.
            crate::revocations::announce_sessions_revoked(&core, user, &[family]).await;
        }
    }
    if let Some(token) = bearer_token(&req) {
        if let Ok(claims) = core.tokens.verify(token) {
            crate::revocations::revoke(&core, claims.jti, claims.sub, claims.exp).await?;
            // Sockets opened with this token close on every signaling node.
            if let Err(e) = publish_token_revoked(&core.redis, claims.sub, claims.jti).await {
                tracing::warn!(error.message = %e, "failed to announce a token revocation");
            }
        }
    }
    Ok(HttpResponse::NoContent().finish())
}
