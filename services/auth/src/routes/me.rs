use crate::error::AuthApiError;
use crate::routes::ErrorDoc;
use crate::users::User;
use actix_web::{web, HttpResponse};
use tandem_shared::auth::AuthUser;
use tandem_shared::server::Core;

/// The signed-in user.
#[utoipa::path(get, path = "/v1/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = User),
        (status = 401, description = "Missing, invalid, expired or revoked access token", body = ErrorDoc)))]
pub async fn me(core: web::Data<Core>, user: AuthUser) -> Result<HttpResponse, AuthApiError> {
    match crate::users::by_id(&core.db, user.user_id).await? {
        Some(u) => Ok(HttpResponse::Ok().json(u)),
        // A valid token for a deleted account.
        None => Err(AuthApiError::InvalidCredentials),
    }
}
