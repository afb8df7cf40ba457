use crate::domain::{signup_role, Email, Handle, Password};
use crate::error::AuthApiError;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use tandem_shared::server::Core;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignupBody {
    email: String,
    password: String,
    handle: String,
    role: String,
}

/// `POST /v1/auth/signup`: create a creator or fan account and sign it in.
#[tracing::instrument(name = "signup", skip_all, fields(handle = %body.handle))]
pub async fn signup(core: web::Data<Core>, body: web::Json<SignupBody>) -> Result<HttpResponse, AuthApiError> {
    let body = body.into_inner();
    let email = Email::parse(&body.email).map_err(AuthApiError::Validation)?;
    let handle = Handle::parse(&body.handle).map_err(AuthApiError::Validation)?;
    let password = Password::parse(body.password).map_err(AuthApiError::Validation)?;
    let role = signup_role(&body.role).map_err(AuthApiError::Validation)?;
    let user = crate::users::create(&core.db, &email, &handle, password, role).await?;
    let session = super::new_session(&core, user, role).await?;
    Ok(HttpResponse::Created().json(session))
}
