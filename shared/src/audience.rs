//! Audience numbers, from signaling (which sees who watches which room) to the broker (which
//! owns rooms and their reports), through a Redis Stream: work that must not be lost even while
//! the broker is down or restarting.
//!
//! Each signaling node buffers, in memory, the view spans of its sockets (a viewer's socket
//! joining a broadcast, and leaving it) and per-room counts (chat messages, tips, prompt votes),
//! and appends them as one [`AudienceBatch`] per second at most (and an empty one every
//! [`ALIVE_EVERY`], so the broker knows the node is alive). Counting costs one `XADD` per node
//! per second, whatever the number of viewers: no write per viewer.
//!
//! The broker reads the stream in a consumer group ([`GROUP`]), applies each batch in one
//! PostgreSQL transaction keyed by its `batch_id` (so a redelivered batch applies once), then
//! acknowledges and deletes it: the broker owns the key and deletes what it consumed. The stream
//! is capped at [`MAX_LEN`] entries (approximately) in case no broker reads it for a long time.

use crate::ids::{ConnectionId, RoomId, UserId};
use crate::redis::RedisHandle;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The consumer group of the brokers.
pub const GROUP: &str = "broker";
/// Most entries kept when nobody consumes (about a day of 10 nodes sending every second).
pub const MAX_LEN: usize = 1_000_000;
/// How often an idle node still sends a batch (its liveness, for views it never ended).
pub const ALIVE_EVERY: Duration = Duration::from_secs(15);

/// The stream's key.
pub fn stream_key(redis: &RedisHandle) -> String {
    redis.key(format_args!("audience:events"))
}

/// A viewer's socket in a broadcast room: from joining (`started_at`) to leaving (`ended_at`,
/// absent while it watches). A socket's span is sent once at start and once at its end; the
/// pair is keyed by room, connection and start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewSpan {
    /// The room.
    pub room_id: RoomId,
    /// The viewer.
    pub user_id: UserId,
    /// The socket.
    pub conn: ConnectionId,
    /// When it joined, Unix ms.
    pub started_at: i64,
    /// When it left, Unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<i64>,
}

/// What happened in a room on one node since the last batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomCounts {
    /// The room.
    pub room_id: RoomId,
    /// Chat messages sent.
    pub chat: u64,
    /// Tips sent.
    pub tips: u64,
    /// Their total, minor units.
    pub tip_amount: i64,
    /// Prompt votes cast (AI rooms).
    pub votes: u64,
}

/// One node's batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudienceBatch {
    /// Makes a redelivered batch apply once.
    pub batch_id: uuid::Uuid,
    /// The node that sent it.
    pub node: String,
    /// When it was sent, Unix ms.
    pub sent_at: i64,
    /// Spans started or ended.
    #[serde(default)]
    pub spans: Vec<ViewSpan>,
    /// Counts per room.
    #[serde(default)]
    pub counts: Vec<RoomCounts>,
}

/// Append `batch` to the stream (field `b`, JSON); returns the bytes written.
///
/// # Errors
/// Redis unreachable.
pub async fn append(redis: &RedisHandle, batch: &AudienceBatch) -> anyhow::Result<usize> {
    let json = serde_json::to_string(batch)?;
    let bytes = json.len();
    let mut conn = redis.conn.clone();
    redis::cmd("XADD")
        .arg(stream_key(redis))
        .arg("MAXLEN")
        .arg("~")
        .arg(MAX_LEN)
        .arg("*")
        .arg("b")
        .arg(json)
        .query_async::<String>(&mut conn)
        .await?;
    Ok(bytes)
}
