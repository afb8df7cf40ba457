//! The per-user socket cap across nodes: a sorted set per user (`sig:socks:<user>`) of the
//! user's open connection ids, each scored with its access token's expiry (the socket is closed
//! then, so a crashed node's entries lapse by themselves). The key's TTL follows the latest
//! expiry.

use tandem_shared::ids::{ConnectionId, UserId};
use tandem_shared::redis::RedisHandle;

/// Drop lapsed entries; add `conn` unless the user already holds `max`. Returns 1 if added.
const CLAIM: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
local ttl = tonumber(ARGV[3]) - tonumber(ARGV[1]) + 60
if redis.call('TTL', KEYS[1]) < ttl then
  redis.call('EXPIRE', KEYS[1], ttl)
end
return 1
";

fn key(redis: &RedisHandle, user: UserId) -> String {
    redis.key(format_args!("sig:socks:{user}"))
}

/// Claim one of `user`'s `max` socket places for `conn` until `exp` (Unix seconds).
/// Returns false when the user already holds `max` sockets.
///
/// # Errors
/// Redis unreachable.
pub(crate) async fn claim(
    redis: &RedisHandle,
    user: UserId,
    conn: ConnectionId,
    exp: i64,
    max: usize,
) -> redis::RedisResult<bool> {
    let now = chrono::Utc::now().timestamp();
    let mut c = redis.conn.clone();
    let added: i64 = redis::Script::new(CLAIM)
        .key(key(redis, user))
        .arg(now)
        .arg(conn.to_string())
        .arg(exp.max(now + 1))
        .arg(max)
        .invoke_async(&mut c)
        .await?;
    Ok(added == 1)
}

/// Keep `conn`'s place until `exp` (its socket renewed its token). Adds it back if Redis lost it:
/// a live socket always holds its place, whatever the cap.
///
/// # Errors
/// Redis unreachable.
pub(crate) async fn extend(redis: &RedisHandle, user: UserId, conn: ConnectionId, exp: i64) -> redis::RedisResult<()> {
    claim(redis, user, conn, exp, usize::MAX).await.map(|_| ())
}

/// Give `conn`'s place back.
///
/// # Errors
/// Redis unreachable.
pub(crate) async fn release(redis: &RedisHandle, user: UserId, conn: ConnectionId) -> redis::RedisResult<()> {
    let mut c = redis.conn.clone();
    redis::cmd("ZREM").arg(key(redis, user)).arg(conn.to_string()).query_async(&mut c).await
}
