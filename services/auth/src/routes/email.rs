//! Email verification and password reset. Tokens travel in message links as URL fragments
//! (`/verify.html#token=…`, never sent to a server or written in its logs); the page posts
//! them in the body.

use crate::domain::{Email, Password};
use crate::email_tokens::{self, Purpose};
use crate::error::AuthApiError;
use crate::routes::{Accepted, ErrorDoc};
use crate::users::User;
use crate::Accounts;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use tandem_shared::auth::AuthUser;
use tandem_shared::ids::UserId;
use tandem_shared::rate_limit::{Class, Verdict};
use tandem_shared::server::Core;
use utoipa::ToSchema;

/// Body of `POST /v1/auth/verify-email`.
#[derive(Deserialize, ToSchema)]
pub struct TokenBody {
    /// The token from the emailed link.
    token: String,
}

/// Answer of `POST /v1/auth/verify-email`.
#[derive(Serialize, ToSchema)]
pub struct Verified {
    /// Always true. Refresh the session for an access token that says so.
    email_verified: bool,
}

/// Body of `POST /v1/auth/password-reset`.
#[derive(Deserialize, ToSchema)]
pub struct ResetRequestBody {
    /// The account's email address.
    #[schema(example = "ana@example.com")]
    email: String,
}

/// Body of `POST /v1/auth/password-reset/confirm`.
#[derive(Deserialize, ToSchema)]
pub struct ResetConfirmBody {
    /// The token from the emailed link.
    token: String,
    /// The new password, 10-128 characters.
    #[schema(example = "correct horse battery")]
    password: String,
}

/// Email `user` a new verification link.
pub(crate) async fn send_verification(core: &Core, accounts: &Accounts, user: &User) -> Result<(), AuthApiError> {
    let token = email_tokens::issue_for_user(&core.db, Purpose::VerifyEmail, user.user_id).await?;
    let link = accounts.mailer.link(&format!("/verify.html#token={token}"));
    let mail = crate::mail::with_link(
        &user.email,
        "Verify your email address for Tandem",
        &format!("Hello {}, please confirm that this is your email address.", user.handle),
        "Verify my email",
        &link,
        "The link works once, for 24 hours. If you did not sign up for Tandem, ignore this message.",
    );
    accounts.mailer.send_later(mail);
    Ok(())
}

/// Verify the account's email address with the token of an emailed link (single use, 24 h).
#[utoipa::path(post, path = "/v1/auth/verify-email", tag = "auth", request_body = TokenBody,
    responses((status = 200, description = "Verified", body = Verified),
        (status = 400, description = "`invalid_email_token`: unknown, used or expired", body = ErrorDoc)))]
#[tracing::instrument(name = "verify email", skip_all)]
pub async fn verify_email(core: web::Data<Core>, body: web::Json<TokenBody>) -> Result<HttpResponse, AuthApiError> {
    let mut tx = core.db.begin().await?;
    let user = email_tokens::consume(&mut tx, Purpose::VerifyEmail, &body.token)
        .await?
        .ok_or(AuthApiError::InvalidEmailToken)?;
    crate::users::mark_verified(&mut tx, user).await?;
    tx.commit().await?;
    tracing::info!(user_id = %user, "email verified");
    Ok(HttpResponse::Ok().json(Verified { email_verified: true }))
}

/// Email a new verification link to the signed-in account (rate-limited: class `mail`).
#[utoipa::path(post, path = "/v1/auth/verify-email/resend", tag = "auth", security(("bearer" = [])),
    responses((status = 202, description = "A new link is on its way", body = Accepted),
        (status = 401, description = "Not signed in", body = ErrorDoc),
        (status = 409, description = "`already_verified`", body = ErrorDoc),
        (status = 429, description = "`rate_limited` (see `Retry-After`)", body = ErrorDoc)))]
#[tracing::instrument(name = "resend verification", skip_all, fields(user_id = %user.user_id))]
pub async fn resend_verification(
    core: web::Data<Core>,
    accounts: web::Data<Accounts>,
    user: AuthUser,
) -> Result<HttpResponse, AuthApiError> {
    let account = crate::users::by_id(&core.db, user.user_id).await?.ok_or(AuthApiError::InvalidCredentials)?;
    if account.email_verified {
        return Err(AuthApiError::AlreadyVerified);
    }
    send_verification(&core, &accounts, &account).await?;
    Ok(HttpResponse::Accepted().json(Accepted {}))
}

/// Ask for a password reset link. Always the same `202`, in about the same time, whether or not
/// the address has an account (the same database statement runs either way, and mail leaves
/// from a background task), so the answer says nothing about who has an account.
#[utoipa::path(post, path = "/v1/auth/password-reset", tag = "auth", request_body = ResetRequestBody,
    responses((status = 202, description = "If the address has an account, a link (valid 1 hour) is on its way",
            body = Accepted),
        (status = 400, description = "`invalid_input`: not an email address", body = ErrorDoc),
        (status = 429, description = "`rate_limited` (see `Retry-After`)", body = ErrorDoc)))]
#[tracing::instrument(name = "password reset", skip_all)]
pub async fn request_password_reset(
    core: web::Data<Core>,
    accounts: web::Data<Accounts>,
    body: web::Json<ResetRequestBody>,
) -> Result<HttpResponse, AuthApiError> {
    let email = Email::parse(&body.email).map_err(AuthApiError::Validation)?;
    let (token, recipient) =
        email_tokens::issue_for_email(&core.db, Purpose::PasswordReset, &email.normalized()).await?;
    // The account's own mail budget (any address may ask for it): over it, nothing is sent, and
    // the answer stays the same. Unknown addresses spend a throwaway budget, for equal work.
    let budget_of = recipient.as_ref().map_or_else(UserId::new, |r| r.user_id);
    let within_budget = matches!(accounts.limiter.check(Class::Mail, Some(budget_of), None).await, Verdict::Allowed);
    if let Some(r) = recipient {
        if within_budget {
            let link = accounts.mailer.link(&format!("/reset.html#token={token}"));
            let mail = crate::mail::with_link(
                &r.email,
                "Reset your Tandem password",
                &format!(
                    "Hello {}, someone (hopefully you) asked to reset the password of your Tandem account.",
                    r.handle
                ),
                "Choose a new password",
                &link,
                "The link works once, for 1 hour, and signs out every session of the account. \
                 If you did not ask for it, ignore this message: your password stays as it is.",
            );
            accounts.mailer.send_later(mail);
        } else {
            tracing::warn!(user_id = %r.user_id, "password reset mail suppressed: the account's mail budget is spent");
        }
    }
    Ok(HttpResponse::Accepted().json(Accepted {}))
}

/// Set a new password with the token of a reset link (single use, 1 hour). Every session of the
/// account is signed out: refresh tokens revoked, access tokens refused, sockets closed. The
/// email address counts as verified from then on (the link reached it).
#[utoipa::path(post, path = "/v1/auth/password-reset/confirm", tag = "auth", request_body = ResetConfirmBody,
    responses((status = 204, description = "Password changed; sign in with it"),
        (status = 400, description = "`invalid_input` (password length) or `invalid_email_token`", body = ErrorDoc),
        (status = 503, description = "`overloaded` (see `Retry-After`)", body = ErrorDoc)))]
#[tracing::instrument(name = "password reset confirm", skip_all)]
pub async fn confirm_password_reset(
    core: web::Data<Core>,
    accounts: web::Data<Accounts>,
    body: web::Json<ResetConfirmBody>,
) -> Result<HttpResponse, AuthApiError> {
    let body = body.into_inner();
    let password = Password::parse(body.password).map_err(AuthApiError::Validation)?;
    // Check before the (costly) hash; the token is used up only below, in one transaction.
    if email_tokens::peek(&core.db, Purpose::PasswordReset, &body.token).await?.is_none() {
        return Err(AuthApiError::InvalidEmailToken);
    }
    let hash = accounts.hasher.hash(password.expose().to_owned()).await?;
    let mut tx = core.db.begin().await?;
    let user = email_tokens::consume(&mut tx, Purpose::PasswordReset, &body.token)
        .await?
        .ok_or(AuthApiError::InvalidEmailToken)?;
    sqlx::query("update users set password_hash = $2 where user_id = $1")
        .bind(user)
        .bind(hash)
        .execute(&mut *tx)
        .await?;
    crate::users::mark_verified(&mut tx, user).await?;
    email_tokens::consume_all(&mut tx, Purpose::PasswordReset, user).await?;
    let families = crate::refresh::revoke_all_in(&mut tx, user).await?;
    tx.commit().await?;
    crate::revocations::announce_sessions_revoked(&core, user, &families).await;
    tracing::info!(user_id = %user, sessions = families.len(), "password reset: every session signed out");
    Ok(HttpResponse::NoContent().finish())
}
