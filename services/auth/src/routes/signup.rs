use crate::domain::{signup_role, Email, Handle, Password};
use crate::error::AuthApiError;
use crate::refresh::SessionMeta;
use crate::routes::{ErrorDoc, TokenResponse};
use crate::users::NewAccount;
use crate::Accounts;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use tandem_shared::server::Core;
use utoipa::ToSchema;

/// Body of `POST /v1/auth/signup`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupBody {
    /// Email address (unique, case-insensitive).
    #[schema(example = "ana@example.com")]
    email: String,
    /// 10-128 characters.
    #[schema(example = "correct horse battery")]
    password: String,
    /// Public handle: 3-30 of `a-z`, `0-9`, `_` (unique).
    #[schema(example = "ana")]
    handle: String,
    /// `creator` or `fan` (operators are created with `tandem admin create-operator`).
    #[schema(example = "creator")]
    role: String,
}

/// Create a creator or fan account and sign it in. A verification link is emailed; until it is
/// used the account may watch but not top up, tip, request a private session, go live or be
/// paid (`403 email_unverified`).
#[utoipa::path(post, path = "/v1/auth/signup", tag = "auth", request_body = SignupBody,
    responses((status = 201, description = "Account created and signed in", body = TokenResponse),
        (status = 400, description = "`invalid_input`", body = ErrorDoc),
        (status = 409, description = "`email_taken` or `handle_taken`", body = ErrorDoc),
        (status = 503, description = "`overloaded`: password hashing is saturated (see `Retry-After`)", body = ErrorDoc)))]
#[tracing::instrument(name = "signup", skip_all, fields(handle = %body.handle))]
pub async fn signup(
    core: web::Data<Core>,
    accounts: web::Data<Accounts>,
    req: HttpRequest,
    body: web::Json<SignupBody>,
) -> Result<HttpResponse, AuthApiError> {
    let body = body.into_inner();
    let email = Email::parse(&body.email).map_err(AuthApiError::Validation)?;
    let handle = Handle::parse(&body.handle).map_err(AuthApiError::Validation)?;
    let password = Password::parse(body.password).map_err(AuthApiError::Validation)?;
    let role = signup_role(&body.role).map_err(AuthApiError::Validation)?;
    let verified = accounts.settings.dev_verified_signups;
    let new = NewAccount { email: &email, handle: &handle, role, verified };
    let user = crate::users::create(&core.db, &accounts.hasher, new, password).await?;
    if !user.email_verified {
        super::email::send_verification(&core, &accounts, &user).await?;
    }
    let meta = SessionMeta::of(&req, &core.settings.trusted_proxies, false);
    let session = super::new_session(&core, user, role, &meta).await?;
    Ok(HttpResponse::Created().json(session))
}
