//! Login throttling: at most [`MAX_ATTEMPTS`] password checks for one email from one client
//! address within [`WINDOW_SECS`]; further attempts get 429 until the window passes. A success
//! clears the count.
//!
//! An attempt is reserved atomically (one Lua script: `INCR`, and `EXPIRE` on the first) before
//! the password is hashed, so concurrent attempts cannot all pass a check made before any of
//! them is counted.

use redis::AsyncCommands;
use tandem_shared::redis::RedisHandle;

/// Password checks allowed per email and client address per window.
pub const MAX_ATTEMPTS: u64 = 5;
/// Window length (and the key's TTL), seconds.
pub const WINDOW_SECS: i64 = 15 * 60;

/// Count one attempt and return the count and the window's remaining seconds. The window starts
/// at the first attempt; a key that somehow lost its TTL gets one again.
const RESERVE: &str = r"
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
";

fn key(redis: &RedisHandle, email_normalized: &str, client: &str) -> String {
    redis.key(format_args!("auth:login_fail:{client}:{email_normalized}"))
}

/// The outcome of [`reserve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// The attempt may check the password.
    Granted,
    /// Over the limit: retry after this many seconds.
    Refused {
        /// Seconds until the window ends.
        retry_after: u64,
    },
}

/// Reserve one password check for this email and client address.
///
/// # Errors
/// Redis unreachable.
pub async fn reserve(redis: &RedisHandle, email: &str, client: &str) -> redis::RedisResult<Reservation> {
    let mut conn = redis.conn.clone();
    let (count, ttl): (u64, i64) =
        redis::Script::new(RESERVE).key(key(redis, email, client)).arg(WINDOW_SECS).invoke_async(&mut conn).await?;
    Ok(if count > MAX_ATTEMPTS {
        Reservation::Refused { retry_after: ttl.max(1).unsigned_abs() }
    } else {
        Reservation::Granted
    })
}

/// Give back one reserved attempt whose password was never checked (the hashing queue shed it):
/// an overloaded node must not lock people out.
const RELEASE: &str = r"
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then
  redis.call('DECR', KEYS[1])
end
return n
";

/// Give back a reservation whose password check did not run.
///
/// # Errors
/// Redis unreachable.
pub async fn release(redis: &RedisHandle, email: &str, client: &str) -> redis::RedisResult<()> {
    let mut conn = redis.conn.clone();
    let _: i64 = redis::Script::new(RELEASE).key(key(redis, email, client)).invoke_async(&mut conn).await?;
    Ok(())
}

/// Forget the attempts after a successful login.
///
/// # Errors
/// Redis unreachable.
pub async fn reset(redis: &RedisHandle, email: &str, client: &str) -> redis::RedisResult<()> {
    let mut conn = redis.conn.clone();
    conn.del(key(redis, email, client)).await
}
