//! Refresh tokens: 32 random bytes (base64url), stored as SHA-256, valid 30 days, single use.
//!
//! Each use rotates the token: the old row is marked used and a new one joins the same family.
//! Presenting a used token means it was copied: the whole family is revoked (theft detection).
//!
//! Every family has a row in `refresh_token_families`. Rotation and revocation lock it first
//! (`select ... for update`, always before any token row, so they cannot deadlock): a revocation
//! waits for a rotation in flight and then revokes its successor too, and a rotation that
//! waited for a revocation finds the family revoked. Under READ COMMITTED a revocation that only
//! updated the family's token rows would miss a successor inserted by a concurrent rotation.

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
        "insert into refresh_token_families (family_id, user_id) values ($1, $2) on conflict (family_id) do nothing",
    )
    .bind(family)
    .bind(user)
    .execute(&mut **tx)
    .await?;
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
    // The family first (see the module doc), then the token row, so two concurrent refreshes
    // with the same token cannot both succeed.
    let family: Option<TokenFamilyId> =
        sqlx::query_scalar("select family_id from refresh_tokens where token_hash = $1")
            .bind(digest(token))
            .fetch_optional(&mut *tx)
            .await?;
    let Some(family) = family else { return Err(AuthApiError::InvalidRefreshToken) };
    let family_revoked = lock_family(&mut tx, family).await?;
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
    if row.revoked || row.expired || family_revoked {
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

/// Lock `family`'s row until the transaction ends; whether it is revoked. A family without a
/// row (none should exist since migration 0011) counts as not revoked.
async fn lock_family(tx: &mut Transaction<'_, Postgres>, family: TokenFamilyId) -> Result<bool, AuthApiError> {
    let revoked: Option<bool> =
        sqlx::query_scalar("select revoked_at is not null from refresh_token_families where family_id = $1 for update")
            .bind(family)
            .fetch_optional(&mut **tx)
            .await?;
    Ok(revoked.unwrap_or(false))
}

/// Revoke `family` and every token in it, the family row locked first.
async fn revoke_family_in(tx: &mut Transaction<'_, Postgres>, family: TokenFamilyId) -> Result<(), AuthApiError> {
    lock_family(tx, family).await?;
    sqlx::query("update refresh_token_families set revoked_at = coalesce(revoked_at, now()) where family_id = $1")
        .bind(family)
        .execute(&mut **tx)
        .await?;
    // A statement of its own, after the lock: it sees successors committed meanwhile.
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
