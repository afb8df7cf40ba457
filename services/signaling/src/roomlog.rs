//! Room events in Redis: a per-room sequence, a short backlog for resume, and the publish that
//! fans an event out to every node. Also resume records and the other small keys signaling owns.
//!
//! Keys (all under the deployment prefix):
//! - `sig:rseq:<room>` — the room's event counter; TTL 24 h, refreshed by every event. A counter
//!   that does not exist (a new room, or Redis restarted empty) starts at Redis's clock in
//!   microseconds, so a room's sequence never goes backwards across a Redis loss and members
//!   never drop new events as already seen.
//! - `sig:backlog:<room>` — list of the room's last events (capped); TTL refreshed by every event.
//! - `sig:resume:<token>` — where a dropped socket was (user, room, role); TTL = the resume
//!   window plus 30 s. Claimed (GETDEL) by the socket that resumes, or deleted by the node that owned the dropped
//!   socket when the window passes.
//! - `sig:stage:<room>:<user>` — a pending stage invitation; TTL 2 min, deleted on accept.

use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tandem_shared::events::room_channel;
use tandem_shared::ids::{ConnectionId, RoomId, UserId};
use tandem_shared::redis::RedisHandle;

use crate::protocol::MemberRole;

/// How long a room's sequence counter outlives its last event.
const SEQ_TTL_SECS: u64 = 24 * 3600;
/// How long a resume record outlives its window (see [`RoomLog::save_resume`]).
const RESUME_TTL_SLACK_SECS: u64 = 30;
/// How long a stage invitation stays valid.
pub const STAGE_INVITE_SECS: u64 = 120;

/// Increment the room's sequence (seeded from Redis's clock when missing), splice it into the event as `room_seq`, append to the capped
/// backlog and publish on the room channel, atomically, so sequence order is delivery order.
/// (Rate limits are checked before, per message type: see [`tandem_shared::rate_limit`].)
const PUBLISH_LUA: &str = r#"
local seq = redis.call('INCR', KEYS[1])
if seq == 1 then
  local t = redis.call('TIME')
  seq = tonumber(t[1]) * 1000000 + tonumber(t[2])
  redis.call('SET', KEYS[1], string.format('%d', seq))
end
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
    /// Its connection (its entry in the user's socket cap), when known.
    #[serde(default)]
    pub conn: Option<ConnectionId>,
}

/// A resume record ready to write: its key, its JSON and its TTL.
pub(crate) struct ResumeEntry {
    pub(crate) key: String,
    pub(crate) json: String,
    pub(crate) ttl_secs: u64,
}

/// The key of a room's event backlog.
pub(crate) fn backlog_key(redis: &RedisHandle, room: RoomId) -> String {
    redis.key(format_args!("sig:backlog:{room}"))
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
        backlog_key(&self.redis, room)
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
        let e = self.resume_entry(token, record);
        let mut conn = self.redis.conn.clone();
        conn.set_ex(e.key, e.json, e.ttl_secs).await
    }

    /// The key, JSON and TTL of a resume record, for writing it together with other keys.
    pub(crate) fn resume_entry(&self, token: &str, record: &ResumeRecord) -> ResumeEntry {
        // The window really ends when the node that keeps the place deletes the record (one tick
        // after the window at most); the TTL only collects records whose keeper died, so it
        // must not run out first, or the leave would never be announced.
        ResumeEntry {
            key: self.resume_key(token),
            json: serde_json::to_string(record).unwrap_or_default(),
            ttl_secs: self.resume_window.as_secs().max(1) + RESUME_TTL_SLACK_SECS,
        }
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

/// Slow mode: take `user`'s chat slot in `room` for `secs` (`sig:slow:{room}:{user}`, expiring
/// with the interval). False when the user spoke less than `secs` ago.
///
/// # Errors
/// Redis unreachable.
pub async fn slow_mode_slot(redis: &RedisHandle, room: RoomId, user: UserId, secs: u32) -> redis::RedisResult<bool> {
    let key = redis.key(format_args!("sig:slow:{room}:{user}"));
    let mut c = redis.conn.clone();
    let set: Option<String> =
        redis::cmd("SET").arg(key).arg(1).arg("NX").arg("EX").arg(u64::from(secs.max(1))).query_async(&mut c).await?;
    Ok(set.is_some())
}
