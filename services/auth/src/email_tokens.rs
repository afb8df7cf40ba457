//! Single-use tokens sent by email (`email_tokens`): 32 random bytes (base64url) in the
//! message, only their SHA-256 stored. Email verification lasts 24 hours, a password reset one.

use crate::error::AuthApiError;
use sha2::{Digest, Sha256};
use sqlx::{PgPool, Postgres, Transaction};
use tandem_shared::ids::UserId;
use uuid::Uuid;

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Proves the account receives mail at its address.
    VerifyEmail,
    /// Lets the holder set a new password.
    PasswordReset,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::VerifyEmail => "verify_email",
            Purpose::PasswordReset => "password_reset",
        }
    }

    /// Lifetime, seconds.
    pub fn ttl_secs(self) -> i32 {
        match self {
            Purpose::VerifyEmail => 24 * 3600,
            Purpose::PasswordReset => 3600,
        }
    }
}

fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The account a token was issued for by [`issue_for_email`].
#[derive(Debug, sqlx::FromRow)]
pub struct Recipient {
    /// Id.
    pub user_id: UserId,
    /// Address to send to.
    pub email: String,
    /// Handle, to greet.
    pub handle: String,
}

/// Issue a token for the account with (normalised) `email`, if there is one. The same single
/// statement runs whether or not the account exists, so the answer takes as long either way.
///
/// # Errors
/// Database failure.
pub async fn issue_for_email(
    db: &PgPool,
    purpose: Purpose,
    email_normalized: &str,
) -> Result<(String, Option<Recipient>), AuthApiError> {
    let token = crate::refresh::generate();
    let recipient = sqlx::query_as::<_, Recipient>(
        "with target as (select user_id, email, handle from users where lower(email) = $5),
         issued as (
             insert into email_tokens (email_token_id, user_id, purpose, token_hash, expires_at)
             select $1, user_id, $2, $3, now() + make_interval(secs => $4) from target
             returning user_id)
         select t.user_id, t.email, t.handle from target t join issued using (user_id)",
    )
    .bind(Uuid::new_v4())
    .bind(purpose.as_str())
    .bind(digest(&token))
    .bind(f64::from(purpose.ttl_secs()))
    .bind(email_normalized)
    .fetch_optional(db)
    .await?;
    Ok((token, recipient))
}

/// Issue a token for `user`.
///
/// # Errors
/// Database failure.
pub async fn issue_for_user(db: &PgPool, purpose: Purpose, user: UserId) -> Result<String, AuthApiError> {
    let token = crate::refresh::generate();
    sqlx::query(
        "insert into email_tokens (email_token_id, user_id, purpose, token_hash, expires_at)
         values ($1, $2, $3, $4, now() + make_interval(secs => $5))",
    )
    .bind(Uuid::new_v4())
    .bind(user)
    .bind(purpose.as_str())
    .bind(digest(&token))
    .bind(f64::from(purpose.ttl_secs()))
    .execute(db)
    .await?;
    Ok(token)
}

/// Whether `token` is a live token for `purpose` (not used, not expired); its user.
///
/// # Errors
/// Database failure.
pub async fn peek(db: &PgPool, purpose: Purpose, token: &str) -> Result<Option<UserId>, AuthApiError> {
    if token.is_empty() || token.len() > 256 {
        return Ok(None);
    }
    Ok(sqlx::query_scalar(
        "select user_id from email_tokens
         where token_hash = $1 and purpose = $2 and used_at is null and expires_at > now()",
    )
    .bind(digest(token))
    .bind(purpose.as_str())
    .fetch_optional(db)
    .await?)
}

/// Use `token` up: marks it used if it is live for `purpose`; its user. Concurrent uses of
/// one token: only one gets the user.
///
/// # Errors
/// Database failure.
pub async fn consume(
    tx: &mut Transaction<'_, Postgres>,
    purpose: Purpose,
    token: &str,
) -> Result<Option<UserId>, AuthApiError> {
    if token.is_empty() || token.len() > 256 {
        return Ok(None);
    }
    Ok(sqlx::query_scalar(
        "update email_tokens set used_at = now()
         where token_hash = $1 and purpose = $2 and used_at is null and expires_at > now()
         returning user_id",
    )
    .bind(digest(token))
    .bind(purpose.as_str())
    .fetch_optional(&mut **tx)
    .await?)
}

/// Use up every other live token of `user` for `purpose` (a reset link stops working once
/// another was used).
///
/// # Errors
/// Database failure.
pub async fn consume_all(
    tx: &mut Transaction<'_, Postgres>,
    purpose: Purpose,
    user: UserId,
) -> Result<(), AuthApiError> {
    sqlx::query("update email_tokens set used_at = now() where user_id = $1 and purpose = $2 and used_at is null")
        .bind(user)
        .bind(purpose.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(())
}
