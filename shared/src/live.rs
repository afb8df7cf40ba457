//! Live state shared between services through Redis: heartbeats and viewer counts.
//!
//! These functions fix the key layout so that the broker (which reaps rooms) and signaling
//! (which carries heartbeats and counts viewers) agree on it.
//!
//! - `<prefix>hb` — sorted set, member `<room_id>:<user_id>`, score = last heartbeat (Unix ms).
//!   Owner: the broker removes a room's members when the room ends.
//! - `<prefix>viewers:<room_id>` — hash, field = signaling node id, value = viewers on that node;
//!   each node rewrites its field and the key's 60 s TTL at least every 10 s.

use crate::ids::{RoomId, UserId};
use crate::redis::RedisHandle;
use redis::AsyncCommands;

/// Seconds a viewer-count hash outlives its last refresh.
pub const VIEWERS_TTL_SECS: i64 = 60;

/// The heartbeat sorted set.
pub fn heartbeats_key(redis: &RedisHandle) -> String {
    redis.key("hb")
}

/// The member of [`heartbeats_key`] for one participant of one room.
pub fn heartbeat_member(room: RoomId, user: UserId) -> String {
    format!("{room}:{user}")
}

/// Record that `user` in `room` is alive now.
///
/// # Errors
/// Redis unreachable.
pub async fn record_heartbeat(redis: &RedisHandle, room: RoomId, user: UserId) -> redis::RedisResult<()> {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let mut conn = redis.conn.clone();
    conn.zadd::<_, _, _, ()>(heartbeats_key(redis), heartbeat_member(room, user), now_ms).await
}

/// The viewer-count hash of a room.
pub fn viewers_key(redis: &RedisHandle, room: RoomId) -> String {
    redis.key(format_args!("viewers:{room}"))
}

/// Set this node's viewer count for a room (and refresh the key's TTL).
///
/// # Errors
/// Redis unreachable.
pub async fn set_node_viewers(redis: &RedisHandle, room: RoomId, node: &str, count: u64) -> redis::RedisResult<()> {
    let key = viewers_key(redis, room);
    let mut conn = redis.conn.clone();
    let mut pipe = redis::pipe();
    if count == 0 {
        pipe.hdel(&key, node).ignore();
    } else {
        pipe.hset(&key, node, count).ignore();
    }
    pipe.expire(&key, VIEWERS_TTL_SECS).ignore();
    pipe.query_async::<()>(&mut conn).await
}

/// Total viewers of each room across all nodes, in the order given.
///
/// # Errors
/// Redis unreachable.
pub async fn viewer_counts(redis: &RedisHandle, rooms: &[RoomId]) -> redis::RedisResult<Vec<u64>> {
    if rooms.is_empty() {
        return Ok(Vec::new());
    }
    let mut conn = redis.conn.clone();
    let mut pipe = redis::pipe();
    for room in rooms {
        pipe.hvals(viewers_key(redis, *room));
    }
    let all: Vec<Vec<u64>> = pipe.query_async(&mut conn).await?;
    Ok(all.into_iter().map(|v| v.into_iter().sum()).collect())
}
