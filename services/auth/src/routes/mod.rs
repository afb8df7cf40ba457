//! HTTP handlers of the auth service.

mod jwks;
mod login;
mod logout;
mod me;
mod refresh;
mod signup;

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
];

/// Mount the auth routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/auth/signup", web::post().to(signup::signup))
        .route("/v1/auth/login", web::post().to(login::login))
        .route("/v1/auth/refresh", web::post().to(refresh::refresh))
        .route("/v1/auth/logout", web::post().to(logout::logout))
        .route("/v1/me", web::get().to(me::me))
        .route("/.well-known/jwks.json", web::get().to(jwks::jwks));
}

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
    paths(signup::signup, login::login, refresh::refresh, logout::logout, me::me, jwks::jwks),
    modifiers(&BearerAuth, &ERRORS),
    tags((name = "auth", description = "Accounts, sign-in, access and refresh tokens")),
)]
struct AuthApi;

/// The auth service's OpenAPI 3 document (merge other services' documents into it with `merge`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    AuthApi::openapi()
}

/// Issue an access token plus a refresh token in a new family.
pub(crate) async fn new_session(
    core: &tandem_shared::server::Core,
    user: crate::users::User,
    role: tandem_shared::ids::Role,
) -> Result<TokenResponse, crate::error::AuthApiError> {
    let mut tx = core.db.begin().await?;
    let refresh = crate::refresh::issue(&mut tx, user.user_id, tandem_shared::ids::TokenFamilyId::new()).await?;
    tx.commit().await?;
    let (access, claims) = core.tokens.issue(user.user_id, role)?;
    Ok(TokenResponse {
        access_token: access,
        token_type: "Bearer",
        expires_in: claims.exp - claims.iat,
        refresh_token: refresh,
        user: Some(user),
    })
}
