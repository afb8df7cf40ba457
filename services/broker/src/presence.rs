//! Live state in Redis: creator presence and the availability lock.
//!
//! Keys (all under the deployment prefix):
//! - `presence:<creator>` — `online` | `away`; TTL `TANDEM_PRESENCE_TTL_SECS`, refreshed by
//!   `PUT /v1/presence`; absent means offline.
//! - `avail:<creator>` — the room id of the creator's private room. Taken with `SET NX PX`
//!   (a creator is in at most one private room), refreshed by the host's heartbeats, released
//!   with a Lua compare-and-delete so a late release never frees someone else's lock.
//! - `stage:<room>` — the user on a broadcast's stage (publishes the `guest` slot); TTL, deleted
//!   when the room ends or the guest leaves.
//! - `lpwh:<event id>` — a Livepeer webhook delivery already processed (replay guard), with a TTL.

use crate::domain::PresenceStatus;
use redis::AsyncCommands;
use std::time::Duration;
use tandem_shared::ids::{RoomId, UserId};
use tandem_shared::redis::RedisHandle;

/// What others see of a creator's availability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// Set by the creator.
    Set(PresenceStatus),
    /// In a private room (holds the availability lock).
    Busy,
}

impl Availability {
    /// `online`, `away`, `offline` or `busy`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Availability::Set(s) => s.as_str(),
            Availability::Busy => "busy",
        }
    }
}

fn presence_key(redis: &RedisHandle, user: UserId) -> String {
    redis.key(format_args!("presence:{user}"))
}

fn lock_key(redis: &RedisHandle, user: UserId) -> String {
    redis.key(format_args!("avail:{user}"))
}

/// Set a creator's presence (offline deletes the key).
///
/// # Errors
/// Redis unreachable.
pub async fn set_presence(
    redis: &RedisHandle,
    user: UserId,
    status: PresenceStatus,
    ttl: Duration,
) -> redis::RedisResult<()> {
    let mut c = redis.conn.clone();
    match status {
        PresenceStatus::Offline => c.del(presence_key(redis, user)).await,
        s => c.set_ex(presence_key(redis, user), s.as_str(), ttl.as_secs().max(1)).await,
    }
}

/// A creator's availability: busy when holding the lock, else their presence.
///
/// # Errors
/// Redis unreachable.
pub async fn availability(redis: &RedisHandle, user: UserId) -> redis::RedisResult<Availability> {
    let mut c = redis.conn.clone();
    let (lock, presence): (Option<String>, Option<String>) =
        redis::pipe().get(lock_key(redis, user)).get(presence_key(redis, user)).query_async(&mut c).await?;
    if lock.is_some() {
        return Ok(Availability::Busy);
    }
    let status = presence.and_then(|p| p.parse().ok()).unwrap_or(PresenceStatus::Offline);
    Ok(Availability::Set(status))
}

/// Take a creator's availability lock for `room`; false when another room holds it.
///
/// # Errors
/// Redis unreachable.
pub async fn take_lock(redis: &RedisHandle, user: UserId, room: RoomId, ttl: Duration) -> redis::RedisResult<bool> {
    let mut c = redis.conn.clone();
    let res: Option<String> = redis::cmd("SET")
        .arg(lock_key(redis, user))
        .arg(room.to_string())
        .arg("NX")
        .arg("PX")
        .arg(ttl.as_millis() as u64)
        .query_async(&mut c)
        .await?;
    Ok(res.is_some())
}

const RELEASE: &str =
    r"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";
const REFRESH: &str =
    r"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";

/// Release the lock if `room` holds it.
///
/// # Errors
/// Redis unreachable.
pub async fn release_lock(redis: &RedisHandle, user: UserId, room: RoomId) -> redis::RedisResult<bool> {
    let mut c = redis.conn.clone();
    let n: i64 =
        redis::Script::new(RELEASE).key(lock_key(redis, user)).arg(room.to_string()).invoke_async(&mut c).await?;
    Ok(n == 1)
}

/// Extend the lock's TTL if `room` holds it.
///
/// # Errors
/// Redis unreachable.
pub async fn refresh_lock(redis: &RedisHandle, user: UserId, room: RoomId, ttl: Duration) -> redis::RedisResult<bool> {
    let mut c = redis.conn.clone();
    let n: i64 = redis::Script::new(REFRESH)
        .key(lock_key(redis, user))
        .arg(room.to_string())
        .arg(ttl.as_millis() as u64)
        .invoke_async(&mut c)
        .await?;
    Ok(n == 1)
}

/// Remember a webhook delivery id; false when it was already seen within `ttl` (a replay).
///
/// # Errors
/// Redis unreachable.
pub async fn first_delivery(redis: &RedisHandle, id: &str, ttl: Duration) -> redis::RedisResult<bool> {
    let mut c = redis.conn.clone();
    let res: Option<String> = redis::cmd("SET")
        .arg(redis.key(format_args!("lpwh:{id}")))
        .arg(1)
        .arg("NX")
        .arg("PX")
        .arg(ttl.as_millis() as u64)
        .query_async(&mut c)
        .await?;
    Ok(res.is_some())
}

/// Forget a delivery whose processing failed, so the provider's retry is accepted.
///
/// # Errors
/// Redis unreachable.
pub async fn forget_delivery(redis: &RedisHandle, id: &str) -> redis::RedisResult<()> {
    let mut c = redis.conn.clone();
    c.del(redis.key(format_args!("lpwh:{id}"))).await
}

fn stage_key(redis: &RedisHandle, room: RoomId) -> String {
    redis.key(format_args!("stage:{room}"))
}

/// Put `user` on a broadcast's stage (replacing whoever was there).
///
/// # Errors
/// Redis unreachable.
pub async fn set_stage(redis: &RedisHandle, room: RoomId, user: UserId, ttl: Duration) -> redis::RedisResult<()> {
    let mut c = redis.conn.clone();
    c.set_ex(stage_key(redis, room), user.to_string(), ttl.as_secs().max(1)).await
}

/// Who is on a broadcast's stage.
///
/// # Errors
/// Redis unreachable.
pub async fn stage_guest(redis: &RedisHandle, room: RoomId) -> redis::RedisResult<Option<UserId>> {
    let mut c = redis.conn.clone();
    let v: Option<String> = c.get(stage_key(redis, room)).await?;
    Ok(v.and_then(|s| s.parse().ok()))
}

/// Clear a broadcast's stage.
///
/// # Errors
/// Redis unreachable.
pub async fn clear_stage(redis: &RedisHandle, room: RoomId) -> redis::RedisResult<()> {
    let mut c = redis.conn.clone();
    c.del(stage_key(redis, room)).await
}

/// Clear a broadcast's stage if `user` is on it; false when someone else (or nobody) is.
///
/// # Errors
/// Redis unreachable.
pub async fn clear_stage_of(redis: &RedisHandle, room: RoomId, user: UserId) -> redis::RedisResult<bool> {
    let mut c = redis.conn.clone();
    let n: i64 =
        redis::Script::new(RELEASE).key(stage_key(redis, room)).arg(user.to_string()).invoke_async(&mut c).await?;
    Ok(n == 1)
}
