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

/// Where and how a session signed in (shown in the session list).
#[derive(Debug, Clone, Default)]
pub struct SessionMeta {
    /// Client address (see [`crate::routes::client_address`]).
    pub client_addr: String,
    /// `User-Agent`, at most 256 characters.
    pub user_agent: Option<String>,
    /// Signed in with a second factor.
    pub mfa: bool,
}

impl SessionMeta {
    /// The metadata of a request.
    pub fn of(req: &actix_web::HttpRequest, trusted: &tandem_shared::client_addr::TrustedProxies, mfa: bool) -> Self {
        let user_agent = req
            .headers()
            .get(actix_web::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(256).collect());
        Self { client_addr: crate::routes::client_address(req, trusted), user_agent, mfa }
    }
}

/// Store a new token of `family` for `user`; returns the token. A new family records `meta`.
///
/// # Errors
/// Database failure.
pub async fn issue(
    tx: &mut Transaction<'_, Postgres>,
    user: UserId,
    family: TokenFamilyId,
    meta: &SessionMeta,
) -> Result<String, AuthApiError> {
    let token = generate();
    sqlx::query(
        "insert into refresh_token_families (family_id, user_id, last_used_at, client_addr, user_agent, mfa)
         values ($1, $2, now(), $3, $4, $5) on conflict (family_id) do nothing",
    )
    .bind(family)
    .bind(user)
    .bind(&meta.client_addr)
    .bind(&meta.user_agent)
    .bind(meta.mfa)
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
    /// The session (family).
    pub family: TokenFamilyId,
    /// The session signed in with a second factor.
    pub mfa: bool,
    /// The account's email is verified (now, not at sign-in).
    pub email_verified: bool,
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    refresh_token_id: Uuid,
    family_id: TokenFamilyId,
    user_id: UserId,
    role: String,
    email_verified: bool,
    expired: bool,
    used: bool,
    revoked: bool,
}

/// Rotate `token`: mark it used and issue its successor in the same family.
///
/// # Errors
/// Unknown/expired/revoked token, or reuse of a used token (which revokes the family).
pub async fn rotate(pool: &PgPool, token: &str, meta: Option<&SessionMeta>) -> Result<Rotated, AuthApiError> {
    let mut tx = pool.begin().await?;
    // The family first (see the module doc), then the token row, so two concurrent refreshes
    // with the same token cannot both succeed.
    let family: Option<TokenFamilyId> =
        sqlx::query_scalar("select family_id from refresh_tokens where token_hash = $1")
            .bind(digest(token))
            .fetch_optional(&mut *tx)
            .await?;
    let Some(family) = family else { return Err(AuthApiError::InvalidRefreshToken) };
    let (family_revoked, mfa) = lock_family_mfa(&mut tx, family).await?;
    let row: Option<TokenRow> = sqlx::query_as(
        "select t.refresh_token_id, t.family_id, t.user_id, u.role, u.email_verified_at is not null as email_verified,
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
    let new_token = issue(&mut tx, row.user_id, row.family_id, &SessionMeta::default()).await?;
    sqlx::query(
        "update refresh_token_families set last_used_at = now(), client_addr = coalesce($2, client_addr),
             user_agent = coalesce($3, user_agent)
         where family_id = $1",
    )
    .bind(row.family_id)
    .bind(meta.map(|m| m.client_addr.clone()))
    .bind(meta.and_then(|m| m.user_agent.clone()))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let role = row.role.parse().map_err(|e: String| AuthApiError::Internal(anyhow::anyhow!(e)))?;
    Ok(Rotated {
        user_id: row.user_id,
        role,
        token: new_token,
        family: row.family_id,
        mfa,
        email_verified: row.email_verified,
    })
}

/// Lock `family`'s row until the transaction ends; whether it is revoked, and whether it
/// signed in with a second factor. A family without a row (none should exist since migration
/// 0011) counts as not revoked.
async fn lock_family_mfa(
    tx: &mut Transaction<'_, Postgres>,
    family: TokenFamilyId,
) -> Result<(bool, bool), AuthApiError> {
    let row: Option<(bool, bool)> = sqlx::query_as(
        "select revoked_at is not null, mfa from refresh_token_families where family_id = $1 for update",
    )
    .bind(family)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.unwrap_or((false, false)))
}

async fn lock_family(tx: &mut Transaction<'_, Postgres>, family: TokenFamilyId) -> Result<bool, AuthApiError> {
    Ok(lock_family_mfa(tx, family).await?.0)
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

/// Revoke the family of `token` (logout); the family and its user. Unknown tokens are ignored:
/// logout is idempotent.
///
/// # Errors
/// Database failure.
pub async fn revoke_by_token(pool: &PgPool, token: &str) -> Result<Option<(TokenFamilyId, UserId)>, AuthApiError> {
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
    Ok(row)
}

/// A signed-in session of an account, as its owner sees it.
#[derive(Debug, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Session {
    /// The session's id (its refresh-token family).
    #[schema(value_type = String, format = Uuid)]
    pub session_id: TokenFamilyId,
    /// When it signed in.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When its refresh token was last used (or it signed in).
    pub last_used_at: chrono::DateTime<chrono::Utc>,
    /// Client address at sign-in or its latest refresh.
    pub client_address: Option<String>,
    /// Browser or app (`User-Agent`).
    pub user_agent: Option<String>,
    /// Signed in with a second factor.
    pub mfa: bool,
    /// The session of the access token that asked.
    #[sqlx(default)]
    pub current: bool,
}

/// The live sessions of `user` (not revoked, with an unexpired unused token), latest first.
///
/// # Errors
/// Database failure.
pub async fn sessions(pool: &PgPool, user: UserId) -> Result<Vec<Session>, AuthApiError> {
    Ok(sqlx::query_as(
        "select f.family_id as session_id, f.created_at, coalesce(f.last_used_at, f.created_at) as last_used_at,
                f.client_addr as client_address, f.user_agent, f.mfa
         from refresh_token_families f
         where f.user_id = $1 and f.revoked_at is null
           and exists (select 1 from refresh_tokens t where t.family_id = f.family_id and t.used_at is null
                       and t.revoked_at is null and t.expires_at > now())
         order by last_used_at desc
         limit 100",
    )
    .bind(user)
    .fetch_all(pool)
    .await?)
}

/// Revoke `user`'s session `family`; false if the account has no such unrevoked session.
///
/// # Errors
/// Database failure.
pub async fn revoke_session(pool: &PgPool, user: UserId, family: TokenFamilyId) -> Result<bool, AuthApiError> {
    let mut tx = pool.begin().await?;
    let owned: Option<bool> = sqlx::query_scalar(
        "select revoked_at is null from refresh_token_families where family_id = $1 and user_id = $2",
    )
    .bind(family)
    .bind(user)
    .fetch_optional(&mut *tx)
    .await?;
    if owned != Some(true) {
        return Ok(false);
    }
    revoke_family_in(&mut tx, family).await?;
    tx.commit().await?;
    Ok(true)
}

/// Revoke every session of `user` inside `tx`; the families revoked.
///
/// # Errors
/// Database failure.
pub async fn revoke_all_in(
    tx: &mut Transaction<'_, Postgres>,
    user: UserId,
) -> Result<Vec<TokenFamilyId>, AuthApiError> {
    let families: Vec<TokenFamilyId> = sqlx::query_scalar(
        "select family_id from refresh_token_families where user_id = $1 and revoked_at is null order by family_id",
    )
    .bind(user)
    .fetch_all(&mut **tx)
    .await?;
    for family in &families {
        revoke_family_in(tx, *family).await?;
    }
    Ok(families)
}
