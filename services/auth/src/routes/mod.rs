//! HTTP handlers of the auth service.

mod email;
mod jwks;
mod login;
mod logout;
mod me;
mod refresh;
mod sessions;
mod signup;
mod two_factor;

use actix_web::web;
use serde::Serialize;
use tandem_shared::error::ErrorBody as ErrorDoc;
use tandem_shared::openapi::{BearerAuth, ErrorResponses};
use utoipa::{OpenApi, ToSchema};

pub use login::client_address;

use tandem_shared::rate_limit::http::RouteClass;
use tandem_shared::rate_limit::Class;

/// The auth service's write routes and their rate-limit class: per client address, before any
/// body is parsed or password hashed.
pub const RATE_LIMITED: &[RouteClass] = &[
    RouteClass::new("POST", "/v1/auth/signup", Class::Auth),
    RouteClass::new("POST", "/v1/auth/login", Class::Auth),
    RouteClass::new("POST", "/v1/auth/refresh", Class::Auth),
    RouteClass::new("POST", "/v1/auth/logout", Class::Auth),
    RouteClass::new("POST", "/v1/auth/verify-email", Class::Auth),
    RouteClass::new("POST", "/v1/auth/verify-email/resend", Class::Mail),
    RouteClass::new("POST", "/v1/auth/password-reset", Class::Mail),
    RouteClass::new("POST", "/v1/auth/password-reset/confirm", Class::Auth),
    RouteClass::new("POST", "/v1/auth/2fa/totp", Class::Auth),
    RouteClass::new("POST", "/v1/auth/2fa/totp/confirm", Class::Auth),
    RouteClass::new("POST", "/v1/auth/2fa/totp/disable", Class::Auth),
    RouteClass::new("DELETE", "/v1/auth/sessions", Class::Auth),
    RouteClass::new("DELETE", "/v1/auth/sessions/{session_id}", Class::Auth),
];

/// Mount the auth routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/auth/signup", web::post().to(signup::signup))
        .route("/v1/auth/login", web::post().to(login::login))
        .route("/v1/auth/refresh", web::post().to(refresh::refresh))
        .route("/v1/auth/logout", web::post().to(logout::logout))
        .route("/v1/auth/verify-email", web::post().to(email::verify_email))
        .route("/v1/auth/verify-email/resend", web::post().to(email::resend_verification))
        .route("/v1/auth/password-reset", web::post().to(email::request_password_reset))
        .route("/v1/auth/password-reset/confirm", web::post().to(email::confirm_password_reset))
        .route("/v1/auth/2fa/totp", web::post().to(two_factor::enrol))
        .route("/v1/auth/2fa/totp/confirm", web::post().to(two_factor::confirm))
        .route("/v1/auth/2fa/totp/disable", web::post().to(two_factor::disable))
        .route("/v1/auth/sessions", web::get().to(sessions::list))
        .route("/v1/auth/sessions", web::delete().to(sessions::revoke_all))
        .route("/v1/auth/sessions/{session_id}", web::delete().to(sessions::revoke))
        .route("/v1/me", web::get().to(me::me))
        .route("/.well-known/jwks.json", web::get().to(jwks::jwks));
}

/// `{}`: the body of `202 Accepted` answers.
#[derive(Serialize, ToSchema)]
pub struct Accepted {}

/// The body of signup, login and refresh responses.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// Short-lived JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(value_type = String, example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    #[schema(example = 900)]
    pub expires_in: i64,
    /// Opaque single-use token for `POST /v1/auth/refresh`.
    pub refresh_token: String,
    /// The signed-in user (signup and login).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<crate::users::User>,
}

/// The error responses every route's shape implies (webhook bodies are read raw).
const ERRORS: ErrorResponses = ErrorResponses { raw_bodies: &[] };

#[derive(OpenApi)]
#[openapi(
    info(title = "Tandem API", description = "Tandem auth: accounts, access and refresh tokens."),
    paths(signup::signup, login::login, refresh::refresh, logout::logout, me::me, jwks::jwks,
        email::verify_email, email::resend_verification, email::request_password_reset,
        email::confirm_password_reset, two_factor::enrol, two_factor::confirm, two_factor::disable,
        sessions::list, sessions::revoke_all, sessions::revoke),
    modifiers(&BearerAuth, &ERRORS),
    tags((name = "auth", description = "Accounts, sign-in, access and refresh tokens, email verification, \
        password reset, two-factor sign-in and sessions")),
)]
struct AuthApi;

/// The auth service's OpenAPI 3 document (merge other services' documents into it with `merge`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    AuthApi::openapi()
}

/// Issue an access token plus a refresh token in a new family (a new session).
pub(crate) async fn new_session(
    core: &tandem_shared::server::Core,
    user: crate::users::User,
    role: tandem_shared::ids::Role,
    meta: &crate::refresh::SessionMeta,
) -> Result<TokenResponse, crate::error::AuthApiError> {
    let family = tandem_shared::ids::TokenFamilyId::new();
    let mut tx = core.db.begin().await?;
    let refresh = crate::refresh::issue(&mut tx, user.user_id, family, meta).await?;
    tx.commit().await?;
    let grants =
        tandem_shared::jwt::Grants { family: Some(family), mfa: meta.mfa, email_verified: user.email_verified };
    let (access, claims) = core.tokens.issue_with(user.user_id, role, grants)?;
    Ok(TokenResponse {
        access_token: access,
        token_type: "Bearer",
        expires_in: claims.exp - claims.iat,
        refresh_token: refresh,
        user: Some(user),
    })
}
