//! Refresh tokens: 32 random bytes (base64url), stored as SHA-256, valid 30 days, single use.
//!
//! Each use rotates the token: the old row is marked used and a new one joins the same family.
//! Presenting a used token means it was copied: the whole family is revoked (theft detection).

use crate::error::AuthApiError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::{PgPool, Postgres, Transaction};
use tandem_shared::ids::{Role, TokenFamilyId, UserId};
use uuid::Uuid;

/// How long a refresh token stays valid if unused.
pub const REFRESH_TTL_DAYS: i64 = 30;

/// A new opaque refresh token.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Store a new token of `family` for `user`; returns the token.
///
/// # Errors
/// Database failure.
pub async fn issue(
    tx: &mut Transaction<'_, Postgres>,
    user: UserId,
    family: TokenFamilyId,
) -> Result<String, AuthApiError> {
    let token = generate();
    sqlx::query(
        "insert into refresh_tokens (refresh_token_id, family_id, user_id, token_hash, expires_at)
         values ($1, $2, $3, $4, now() + make_interval(days => $5))",
    )
    .bind(Uuid::new_v4())
    .bind(family)
    .bind(user)
    .bind(digest(&token))
    .bind(REFRESH_TTL_DAYS as i32)
    .execute(&mut **tx)
    .await?;
    Ok(token)
}

/// The user a rotated token belongs to.
#[derive(Debug)]
pub struct Rotated {
    /// The user.
    pub user_id: UserId,
    /// Their current role.
    pub role: Role,
    /// The new refresh token.
    pub token: String,
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    refresh_token_id: Uuid,
    family_id: TokenFamilyId,
    user_id: UserId,
    role: String,
    expired: bool,
    used: bool,
    revoked: bool,
}

/// Rotate `token`: mark it used and issue its successor in the same family.
///
/// # Errors
/// Unknown/expired/revoked token, or reuse of a used token (which revokes the family).
pub async fn rotate(pool: &PgPool, token: &str) -> Result<Rotated, AuthApiError> {
    let mut tx = pool.begin().await?;
    // Lock the row so two concurrent refreshes with the same token cannot both succeed.
    let row: Option<TokenRow> = sqlx::query_as(
        "select t.refresh_token_id, t.family_id, t.user_id, u.role,
                t.expires_at < now() as expired, t.used_at is not null as used, t.revoked_at is not null as revoked
         from refresh_tokens t join users u on u.user_id = t.user_id
         where t.token_hash = $1
         for update of t",
    )
    .bind(digest(token))
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else { return Err(AuthApiError::InvalidRefreshToken) };
    if row.used {
        revoke_family_in(&mut tx, row.family_id).await?;
        tx.commit().await?;
        tracing::warn!(user_id = %row.user_id, family_id = %row.family_id, "refresh token reuse: family revoked");
        return Err(AuthApiError::RefreshTokenReused);
    }
    if row.revoked || row.expired {
        return Err(AuthApiError::InvalidRefreshToken);
    }
    sqlx::query("update refresh_tokens set used_at = now() where refresh_token_id = $1")
        .bind(row.refresh_token_id)
        .execute(&mut *tx)
        .await?;
    let new_token = issue(&mut tx, row.user_id, row.family_id).await?;
    tx.commit().await?;
    let role = row.role.parse().map_err(|e: String| AuthApiError::Internal(anyhow::anyhow!(e)))?;
    Ok(Rotated { user_id: row.user_id, role, token: new_token })
}

async fn revoke_family_in(tx: &mut Transaction<'_, Postgres>, family: TokenFamilyId) -> Result<(), AuthApiError> {
    sqlx::query("update refresh_tokens set revoked_at = now() where family_id = $1 and revoked_at is null")
        .bind(family)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Revoke the family of `token` (logout). Unknown tokens are ignored: logout is idempotent.
///
/// # Errors
/// Database failure.
pub async fn revoke_by_token(pool: &PgPool, token: &str) -> Result<Option<UserId>, AuthApiError> {
    let mut tx = pool.begin().await?;
    let row: Option<(TokenFamilyId, UserId)> =
        sqlx::query_as("select family_id, user_id from refresh_tokens where token_hash = $1")
            .bind(digest(token))
            .fetch_optional(&mut *tx)
            .await?;
    if let Some((family, _)) = row {
        revoke_family_in(&mut tx, family).await?;
    }
    tx.commit().await?;
    Ok(row.map(|(_, user)| user))
}
