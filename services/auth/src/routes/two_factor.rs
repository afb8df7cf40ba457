//! Two-factor sign-in: enrol an authenticator app, confirm it with a first code (which shows the
//! recovery codes once), and disable it with the password and a code.

use crate::error::AuthApiError;
use crate::refresh::SessionMeta;
use crate::routes::{ErrorDoc, TokenResponse};
use crate::totp;
use crate::Accounts;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use tandem_shared::auth::AuthUser;
use tandem_shared::jwt::Grants;
use tandem_shared::server::Core;
use utoipa::ToSchema;

/// Answer of `POST /v1/auth/2fa/totp`.
#[derive(Serialize, ToSchema)]
pub struct Enrolment {
    /// The shared secret, base32 (type it into the app if it cannot scan the URI).
    secret: String,
    /// `otpauth://totp/...`: show it as a QR code for the app to scan.
    otpauth_uri: String,
}

/// Body of `POST /v1/auth/2fa/totp/confirm`.
#[derive(Deserialize, ToSchema)]
pub struct CodeBody {
    /// The 6-digit code the app shows now.
    #[schema(example = "123456")]
    code: String,
}

/// Answer of `POST /v1/auth/2fa/totp/confirm`.
#[derive(Serialize, ToSchema)]
pub struct Confirmed {
    /// Ten single-use recovery codes, shown only now: each signs in once instead of a code.
    recovery_codes: Vec<String>,
    /// A new access token of this session, now signed in with a second factor (`mfa`).
    access_token: String,
    /// Seconds until it expires.
    expires_in: i64,
}

/// Body of `POST /v1/auth/2fa/totp/disable`.
#[derive(Deserialize, ToSchema)]
pub struct DisableBody {
    /// The account's password.
    password: String,
    /// A code of the app, or an unused recovery code.
    code: String,
}

/// Start enrolling an authenticator app: a new secret (an earlier unconfirmed one is replaced).
/// Two-factor sign-in is on only once a code confirms it.
#[utoipa::path(post, path = "/v1/auth/2fa/totp", tag = "auth", security(("bearer" = [])),
    responses((status = 201, description = "Scan `otpauth_uri`, then confirm with a code", body = Enrolment),
        (status = 401, description = "Not signed in", body = ErrorDoc),
        (status = 409, description = "`totp_already_enabled`", body = ErrorDoc)))]
#[tracing::instrument(name = "totp enrol", skip_all, fields(user_id = %user.user_id))]
pub async fn enrol(
    core: web::Data<Core>,
    accounts: web::Data<Accounts>,
    user: AuthUser,
) -> Result<HttpResponse, AuthApiError> {
    let account = crate::users::by_id(&core.db, user.user_id).await?.ok_or(AuthApiError::InvalidCredentials)?;
    let secret = totp::enrol(&core.db, accounts.settings.totp_key.as_ref(), user.user_id).await?;
    let b32 = totp::base32(&secret);
    let otpauth_uri = totp::otpauth_uri(&b32, &account.email);
    Ok(HttpResponse::Created().json(Enrolment { secret: b32, otpauth_uri }))
}

/// Confirm enrolment with the app's current code: two-factor sign-in is on from now, the
/// recovery codes are shown once, and this session counts as signed in with a second factor.
#[utoipa::path(post, path = "/v1/auth/2fa/totp/confirm", tag = "auth", request_body = CodeBody, security(("bearer" = [])),
    responses((status = 200, description = "On", body = Confirmed),
        (status = 400, description = "`invalid_code`", body = ErrorDoc),
        (status = 401, description = "Not signed in", body = ErrorDoc),
        (status = 409, description = "`totp_not_enrolled` (start with `POST /v1/auth/2fa/totp`) or `totp_already_enabled`",
            body = ErrorDoc)))]
#[tracing::instrument(name = "totp confirm", skip_all, fields(user_id = %user.user_id))]
pub async fn confirm(
    core: web::Data<Core>,
    accounts: web::Data<Accounts>,
    user: AuthUser,
    body: web::Json<CodeBody>,
) -> Result<HttpResponse, AuthApiError> {
    let cred = totp::load(&core.db, accounts.settings.totp_key.as_ref(), user.user_id)
        .await?
        .ok_or(AuthApiError::TotpNotEnrolled)?;
    if cred.confirmed {
        return Err(AuthApiError::TotpAlreadyEnabled);
    }
    if !totp::accept_code(&core.db, user.user_id, &cred, &body.code).await? {
        return Err(AuthApiError::WrongCode);
    }
    let mut tx = core.db.begin().await?;
    let recovery_codes = totp::confirm(&mut tx, user.user_id).await?;
    if let Some(family) = user.claims.fam {
        sqlx::query("update refresh_token_families set mfa = true where family_id = $1 and user_id = $2")
            .bind(family)
            .bind(user.user_id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    let grants = Grants { family: user.claims.fam, mfa: true, email_verified: user.claims.email_verified };
    let (access_token, claims) = core.tokens.issue_with(user.user_id, user.role, grants)?;
    tracing::info!("two-factor sign-in enabled");
    Ok(HttpResponse::Ok().json(Confirmed { recovery_codes, access_token, expires_in: claims.exp - claims.iat }))
}

/// Turn two-factor sign-in off, with the password and a code (or a recovery code). Every
/// session of the account is signed out (their access tokens said `mfa`); the answer is a new
/// session for this client.
#[utoipa::path(post, path = "/v1/auth/2fa/totp/disable", tag = "auth", request_body = DisableBody, security(("bearer" = [])),
    responses((status = 200, description = "Off; a new session", body = TokenResponse),
        (status = 400, description = "`invalid_password` or `invalid_code`", body = ErrorDoc),
        (status = 401, description = "Not signed in", body = ErrorDoc),
        (status = 409, description = "`totp_not_enrolled`", body = ErrorDoc),
        (status = 503, description = "`overloaded` (see `Retry-After`)", body = ErrorDoc)))]
#[tracing::instrument(name = "totp disable", skip_all, fields(user_id = %user.user_id))]
pub async fn disable(
    core: web::Data<Core>,
    accounts: web::Data<Accounts>,
    req: HttpRequest,
    user: AuthUser,
    body: web::Json<DisableBody>,
) -> Result<HttpResponse, AuthApiError> {
    let body = body.into_inner();
    let cred = totp::load(&core.db, accounts.settings.totp_key.as_ref(), user.user_id)
        .await?
        .filter(|c| c.confirmed)
        .ok_or(AuthApiError::TotpNotEnrolled)?;
    if body.password.len() > 1024 {
        return Err(AuthApiError::WrongPassword);
    }
    let phc: String = sqlx::query_scalar("select password_hash from users where user_id = $1")
        .bind(user.user_id)
        .fetch_optional(&core.db)
        .await?
        .ok_or(AuthApiError::InvalidCredentials)?;
    if !accounts.hasher.verify(body.password, phc).await? {
        return Err(AuthApiError::WrongPassword);
    }
    if !totp::accept_second_factor(&core.db, user.user_id, &cred, &body.code).await? {
        return Err(AuthApiError::WrongCode);
    }
    let mut tx = core.db.begin().await?;
    totp::remove(&mut tx, user.user_id).await?;
    let families = crate::refresh::revoke_all_in(&mut tx, user.user_id).await?;
    tx.commit().await?;
    crate::revocations::announce_sessions_revoked(&core, user.user_id, &families).await;
    if let Err(e) = crate::revocations::revoke(&core, user.claims.jti, user.user_id, user.claims.exp).await {
        tracing::warn!(error.message = %e, "failed to revoke the access token that disabled two-factor sign-in");
    }
    let account = crate::users::by_id(&core.db, user.user_id).await?.ok_or(AuthApiError::InvalidCredentials)?;
    let meta = SessionMeta::of(&req, &core.settings.trusted_proxies, false);
    let session = super::new_session(&core, account, user.role, &meta).await?;
    tracing::info!(sessions = families.len(), "two-factor sign-in disabled: every session signed out");
    Ok(HttpResponse::Ok().json(session))
}
