use crate::error::AuthApiError;
use actix_web::{web, HttpResponse};
use tandem_shared::auth::AuthUser;
use tandem_shared::server::Core;

/// `GET /v1/me`: the signed-in user.
pub async fn me(core: web::Data<Core>, user: AuthUser) -> Result<HttpResponse, AuthApiError> {
    match crate::users::by_id(&core.db, user.user_id).await? {
        Some(u) => Ok(HttpResponse::Ok().json(u)),
        // A valid token for a deleted account.
        None => Err(AuthApiError::InvalidCredentials),
    }
}
