//! Access-token revocations: PostgreSQL (`revoked_access_tokens`) is the record, Redis the cache
//! every service checks on each request ([`tandem_shared::auth::AuthUser::from_token`]).
//!
//! A logout writes the table first, then Redis. Redis may restart empty: then the marker
//! `auth:revocations:loaded` is gone too, every check answers 503 instead of trusting an empty
//! cache, and auth's watcher refills the unexpired revocations (at most 15 minutes of logouts)
//! within [`WATCH_EVERY`] and sets the marker again. PostgreSQL is never read per request.

use crate::error::AuthApiError;
use std::time::Duration;
use tandem_shared::ids::{TokenFamilyId, UserId};
use tandem_shared::redis::RedisHandle;
use tandem_shared::server::Core;
use uuid::Uuid;

/// How often the watcher checks that Redis still holds the revocations.
pub const WATCH_EVERY: Duration = Duration::from_secs(1);

/// How often expired rows are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(300);

/// Revoke access token `jti` of `user` until `exp` (Unix seconds): recorded, then cached.
///
/// # Errors
/// Database or Redis failures.
pub(crate) async fn revoke(core: &Core, jti: Uuid, user: UserId, exp: i64) -> Result<(), AuthApiError> {
    let expires_at = chrono::DateTime::from_timestamp(exp, 0).unwrap_or_else(chrono::Utc::now);
    sqlx::query(
        "insert into revoked_access_tokens (jti, user_id, expires_at) values ($1, $2, $3) on conflict (jti) do nothing",
    )
    .bind(jti)
    .bind(user)
    .bind(expires_at)
    .execute(&core.db)
    .await?;
    let left = (exp - chrono::Utc::now().timestamp()).max(1) as u64;
    core.redis.revoke_token(jti, left).await?;
    Ok(())
}

/// Announce that `families` of `user` were revoked (recorded in PostgreSQL already): their
/// access tokens are refused from now on, for as long as any of them can live, and every
/// signaling node closes their sockets. Failures are logged: the refresh tokens are revoked
/// whatever happens here.
pub(crate) async fn announce_sessions_revoked(core: &Core, user: UserId, families: &[TokenFamilyId]) {
    let secs = family_ttl(core);
    for family in families {
        if let Err(e) = core.redis.revoke_family(*family, secs).await {
            tracing::error!(error.message = %e, "failed to cache a session revocation");
        }
    }
    if let Err(e) = tandem_shared::events::publish_sessions_revoked(&core.redis, user, families).await {
        tracing::warn!(error.message = %e, "failed to announce revoked sessions to signaling");
    }
}

/// How long a family's revocation must be cached: the longest an access token of it can live.
fn family_ttl(core: &Core) -> u64 {
    (core.settings.access_token_ttl_secs + 10).max(1) as u64
}

/// Copy every unexpired revocation into Redis, then mark the cache loaded; returns how many.
///
/// # Errors
/// Database or Redis failures.
pub async fn reload(core: &Core) -> anyhow::Result<usize> {
    let rows: Vec<(Uuid, i64)> = sqlx::query_as(
        "select jti, greatest(1, ceil(extract(epoch from expires_at - now())))::bigint
         from revoked_access_tokens where expires_at > now()",
    )
    .fetch_all(&core.db)
    .await?;
    let redis: &RedisHandle = &core.redis;
    let mut conn = redis.conn.clone();
    for chunk in rows.chunks(1000) {
        let mut pipe = redis::pipe();
        for (jti, secs) in chunk {
            pipe.set_ex(redis.revoked_key(*jti), 1u8, (*secs).max(1) as u64).ignore();
        }
        pipe.query_async::<()>(&mut conn).await?;
    }
    // Sessions revoked within an access token's lifetime: their access tokens may still be out.
    let ttl = family_ttl(core) as i64;
    let families: Vec<(TokenFamilyId, i64)> = sqlx::query_as(
        "select family_id, greatest(1, $1 - floor(extract(epoch from now() - revoked_at)))::bigint
         from refresh_token_families where revoked_at > now() - make_interval(secs => $1)",
    )
    .bind(ttl as f64)
    .fetch_all(&core.db)
    .await?;
    for chunk in families.chunks(1000) {
        let mut pipe = redis::pipe();
        for (family, secs) in chunk {
            pipe.set_ex(redis.family_revoked_key(*family), 1u8, (*secs).max(1) as u64).ignore();
        }
        pipe.query_async::<()>(&mut conn).await?;
    }
    let epoch = chrono::Utc::now().timestamp_millis();
    redis::cmd("SET").arg(redis.revocations_loaded_key()).arg(epoch).query_async::<()>(&mut conn).await?;
    Ok(rows.len())
}

/// Whether Redis still holds the revocations (the marker exists).
async fn loaded(redis: &RedisHandle) -> redis::RedisResult<bool> {
    let mut conn = redis.conn.clone();
    redis::cmd("EXISTS").arg(redis.revocations_loaded_key()).query_async(&mut conn).await
}

/// Every [`WATCH_EVERY`], refill Redis when it lost the revocations; prune expired rows now
/// and then. Runs until `core.shutdown`.
pub fn spawn_watcher(core: Core) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(WATCH_EVERY);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pruned = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = core.shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            match loaded(&core.redis).await {
                Ok(true) => {}
                Ok(false) => match reload(&core).await {
                    Ok(n) => tracing::warn!(revocations = n, "Redis had lost the access-token revocations: refilled"),
                    Err(e) => tracing::error!(error.cause_chain = ?e, "failed to refill the access-token revocations"),
                },
                Err(e) => tracing::warn!(error.message = %e, "cannot check the revocation cache"),
            }
            if pruned.elapsed() >= PRUNE_EVERY {
                pruned = tokio::time::Instant::now();
                if let Err(e) =
                    sqlx::query("delete from revoked_access_tokens where expires_at < now() - interval '1 hour'")
                        .execute(&core.db)
                        .await
                {
                    tracing::warn!(error.message = %e, "failed to prune expired revocations");
                }
            }
        }
    });
}
