//! Room events in Redis: a per-room sequence, a short backlog for resume, and the publish that
//! fans an event out to every node. Also resume records and the other small keys signaling owns.
//!
//! Keys (all under the deployment prefix):
//! - `sig:rseq:<room>` — the room's event counter; TTL 24 h, refreshed by every event.
//! - `sig:backlog:<room>` — list of the room's last events (capped); TTL refreshed by every event.
//! - `sig:resume:<token>` — where a dropped socket was (user, room, role); TTL = resume window.
//!   Claimed (GETDEL) by the socket that resumes, or deleted by the node that owned the dropped
//!   socket when the window passes.
//! - `sig:stage:<room>:<user>` — a pending stage invitation; TTL 2 min, deleted on accept.

use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tandem_shared::events::room_channel;
use tandem_shared::ids::{RoomId, UserId};
use tandem_shared::redis::RedisHandle;

use crate::protocol::MemberRole;

/// How long a room's sequence counter outlives its last event.
const SEQ_TTL_SECS: u64 = 24 * 3600;
/// How long a stage invitation stays valid.
pub const STAGE_INVITE_SECS: u64 = 120;

/// Increment the room's sequence, splice it into the event as `room_seq`, append to the capped
/// backlog and publish on the room channel, atomically, so sequence order is delivery order.
/// (Rate limits are checked before, per message type: see [`tandem_shared::rate_limit`].)
const PUBLISH_LUA: &str = r#"
local seq = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[5])
local payload = '{"room_seq":' .. string.format('%d', seq) .. ',' .. string.sub(ARGV[2], 2)
redis.call('RPUSH', KEYS[2], payload)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[3]), -1)
redis.call('EXPIRE', KEYS[2], ARGV[4])
redis.call('PUBLISH', ARGV[1], payload)
return seq
"#;

/// The Redis side of room events.
pub struct RoomLog {
    redis: RedisHandle,
    script: redis::Script,
    backlog_len: usize,
    backlog_ttl: Duration,
    resume_window: Duration,
}

/// Where a dropped socket was, kept for the resume window.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ResumeRecord {
    /// Whose socket it was.
    pub user_id: UserId,
    /// The room it was in, if any.
    pub room_id: Option<RoomId>,
    /// Its role there.
    pub role: Option<MemberRole>,
}

impl RoomLog {
    /// A room log keeping `backlog_len` events, readable for a little longer than `resume_window`.
    pub fn new(redis: RedisHandle, backlog_len: usize, resume_window: Duration) -> Self {
        Self {
            redis,
            script: redis::Script::new(PUBLISH_LUA),
            backlog_len,
            backlog_ttl: resume_window * 4 + Duration::from_secs(60),
            resume_window,
        }
    }

    fn seq_key(&self, room: RoomId) -> String {
        self.redis.key(format_args!("sig:rseq:{room}"))
    }

    fn backlog_key(&self, room: RoomId) -> String {
        self.redis.key(format_args!("sig:backlog:{room}"))
    }

    fn resume_key(&self, token: &str) -> String {
        self.redis.key(format_args!("sig:resume:{token}"))
    }

    /// Publish `event` (a JSON object) to the room; returns its room sequence.
    ///
    /// # Errors
    /// Redis unreachable.
    pub async fn publish(&self, room: RoomId, event: &str) -> redis::RedisResult<u64> {
        let mut inv = self.script.prepare_invoke();
        inv.key(self.seq_key(room)).key(self.backlog_key(room));
        inv.arg(room_channel(&self.redis, room))
            .arg(event)
            .arg(self.backlog_len)
            .arg(self.backlog_ttl.as_secs().max(1))
            .arg(SEQ_TTL_SECS);
        let mut conn = self.redis.conn.clone();
        inv.invoke_async(&mut conn).await
    }

    /// The room's current sequence (0 before its first event).
    ///
    /// # Errors
    /// Redis unreachable.
    pub async fn current_seq(&self, room: RoomId) -> redis::RedisResult<u64> {
        let mut conn = self.redis.conn.clone();
        let seq: Option<u64> = conn.get(self.seq_key(room)).await?;
        Ok(seq.unwrap_or(0))
    }

    /// The backlog entries (JSON with `room_seq`), oldest first.
    ///
    /// # Errors
    /// Redis unreachable.
    pub async fn backlog(&self, room: RoomId) -> redis::RedisResult<Vec<String>> {
        let mut conn = self.redis.conn.clone();
        conn.lrange(self.backlog_key(room), 0, -1).await
    }

    /// Keep a dropped socket's place for the resume window.
    ///
    /// # Errors
    /// Redis unreachable.
    pub async fn save_resume(&self, token: &str, record: &ResumeRecord) -> redis::RedisResult<()> {
        let json = serde_json::to_string(record).unwrap_or_default();
        let mut conn = self.redis.conn.clone();
        conn.set_ex(self.resume_key(token), json, self.resume_window.as_secs().max(1)).await
    }

    /// Take a resume record (only one socket can).
    ///
    /// # Errors
    /// Redis unreachable.
    pub async fn claim_resume(&self, token: &str) -> redis::RedisResult<Option<ResumeRecord>> {
        let mut conn = self.redis.conn.clone();
        let raw: Option<String> = redis::cmd("GETDEL").arg(self.resume_key(token)).query_async(&mut conn).await?;
        Ok(raw.and_then(|r| serde_json::from_str(&r).ok()))
    }

    /// Delete an unclaimed resume record; true when it was still there (nobody resumed).
    ///
    /// # Errors
    /// Redis unreachable.
    pub async fn expire_resume(&self, token: &str) -> redis::RedisResult<bool> {
        let mut conn = self.redis.conn.clone();
        let n: u64 = conn.del(self.resume_key(token)).await?;
        Ok(n > 0)
    }

    fn stage_key(&self, room: RoomId, user: UserId) -> String {
        self.redis.key(format_args!("sig:stage:{room}:{user}"))
    }

    /// Record a stage invitation.
    ///
    /// # Errors
    /// Redis unreachable.
    pub async fn invite_to_stage(&self, room: RoomId, user: UserId) -> redis::RedisResult<()> {
        let mut conn = self.redis.conn.clone();
        conn.set_ex(self.stage_key(room, user), 1u8, STAGE_INVITE_SECS).await
    }

    /// Consume a stage invitation; false when there was none.
    ///
    /// # Errors
    /// Redis unreachable.
    pub async fn take_stage_invite(&self, room: RoomId, user: UserId) -> redis::RedisResult<bool> {
        let mut conn = self.redis.conn.clone();
        let n: u64 = conn.del(self.stage_key(room, user)).await?;
        Ok(n > 0)
    }
}
