//! Login throttling: after [`MAX_FAILURES`] failed logins for one email from one client address
//! within [`WINDOW_SECS`], further attempts get 429 until the window passes. Success resets it.

use redis::AsyncCommands;
use tandem_shared::redis::RedisHandle;

/// Failures allowed per window.
pub const MAX_FAILURES: u64 = 5;
/// Window length (and the key's TTL), seconds.
pub const WINDOW_SECS: i64 = 15 * 60;

fn key(redis: &RedisHandle, email_normalized: &str, client: &str) -> String {
    redis.key(format_args!("auth:login_fail:{client}:{email_normalized}"))
}

/// Seconds to wait if this email/address is currently throttled.
///
/// # Errors
/// Redis unreachable.
pub async fn retry_after(redis: &RedisHandle, email: &str, client: &str) -> redis::RedisResult<Option<u64>> {
    let k = key(redis, email, client);
    let mut conn = redis.conn.clone();
    let (count, ttl): (Option<u64>, i64) = redis::pipe().get(&k).ttl(&k).query_async(&mut conn).await?;
    Ok(match count {
        Some(n) if n >= MAX_FAILURES => Some(ttl.max(1) as u64),
        _ => None,
    })
}

/// Count one failure (the window starts at the first).
///
/// # Errors
/// Redis unreachable.
pub async fn record_failure(redis: &RedisHandle, email: &str, client: &str) -> redis::RedisResult<()> {
    let k = key(redis, email, client);
    let mut conn = redis.conn.clone();
    // One atomic round trip; EXPIRE NX starts the window at the first failure only.
    redis::pipe()
        .atomic()
        .incr(&k, 1)
        .ignore()
        .cmd("EXPIRE")
        .arg(&k)
        .arg(WINDOW_SECS)
        .arg("NX")
        .ignore()
        .query_async::<()>(&mut conn)
        .await
}

/// Forget failures after a successful login.
///
/// # Errors
/// Redis unreachable.
pub async fn reset(redis: &RedisHandle, email: &str, client: &str) -> redis::RedisResult<()> {
    let mut conn = redis.conn.clone();
    conn.del(key(redis, email, client)).await
}
