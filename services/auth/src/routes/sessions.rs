//! The signed-in sessions of an account (refresh-token families): list, sign one out, sign out
//! everywhere. Signing out revokes the session's refresh tokens and access tokens and closes its
//! sockets on every signaling node.

use crate::error::AuthApiError;
use crate::refresh::Session;
use crate::routes::ErrorDoc;
use actix_web::{web, HttpResponse};
use serde::Serialize;
use tandem_shared::auth::AuthUser;
use tandem_shared::ids::TokenFamilyId;
use tandem_shared::server::Core;
use utoipa::ToSchema;

/// Answer of `GET /v1/auth/sessions`.
#[derive(Serialize, ToSchema)]
pub struct Sessions {
    /// Live sessions, most recently used first.
    sessions: Vec<Session>,
}

/// The account's signed-in sessions.
#[utoipa::path(get, path = "/v1/auth/sessions", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Sessions), (status = 401, description = "Not signed in", body = ErrorDoc)))]
pub async fn list(core: web::Data<Core>, user: AuthUser) -> Result<HttpResponse, AuthApiError> {
    let mut sessions = crate::refresh::sessions(&core.db, user.user_id).await?;
    for s in &mut sessions {
        s.current = user.claims.fam == Some(s.session_id);
    }
    Ok(HttpResponse::Ok().json(Sessions { sessions }))
}

/// Sign one session out (this one too, if it is its id).
#[utoipa::path(delete, path = "/v1/auth/sessions/{session_id}", tag = "auth", security(("bearer" = [])),
    params(("session_id" = String, Path, format = Uuid, description = "A `session_id` of `GET /v1/auth/sessions`")),
    responses((status = 204, description = "Signed out"),
        (status = 401, description = "Not signed in", body = ErrorDoc),
        (status = 404, description = "`not_found`: no such live session of this account", body = ErrorDoc)))]
#[tracing::instrument(name = "revoke session", skip_all, fields(user_id = %user.user_id))]
pub async fn revoke(
    core: web::Data<Core>,
    user: AuthUser,
    path: web::Path<TokenFamilyId>,
) -> Result<HttpResponse, AuthApiError> {
    let family = path.into_inner();
    if !crate::refresh::revoke_session(&core.db, user.user_id, family).await? {
        return Err(AuthApiError::NotFound);
    }
    crate::revocations::announce_sessions_revoked(&core, user.user_id, &[family]).await;
    Ok(HttpResponse::NoContent().finish())
}

/// Sign out everywhere: every session of the account, this one included.
#[utoipa::path(delete, path = "/v1/auth/sessions", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "Every session signed out"),
        (status = 401, description = "Not signed in", body = ErrorDoc)))]
#[tracing::instrument(name = "sign out everywhere", skip_all, fields(user_id = %user.user_id))]
pub async fn revoke_all(core: web::Data<Core>, user: AuthUser) -> Result<HttpResponse, AuthApiError> {
    let mut tx = core.db.begin().await?;
    let families = crate::refresh::revoke_all_in(&mut tx, user.user_id).await?;
    tx.commit().await?;
    crate::revocations::announce_sessions_revoked(&core, user.user_id, &families).await;
    // A token made outside sign-in has no family: revoke it by its id as well.
    crate::revocations::revoke(&core, user.claims.jti, user.user_id, user.claims.exp).await?;
    Ok(HttpResponse::NoContent().finish())
}
