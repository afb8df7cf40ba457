//! Events services publish on Redis pub/sub for the signaling service to deliver.
//!
//! Two kinds of channel: one per user (`<prefix>user:<id>`, every socket of that user on any
//! node) and one per room (`<prefix>room:<id>`, every member of the room on any node).
//! Payloads are the JSON of [`BusEvent`]; signaling forwards them to clients as server events.

use crate::ids::{RequestId, RoomId, ShowcaseId, UserId};
use crate::redis::RedisHandle;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};

/// The pub/sub channel of one user.
pub fn user_channel(redis: &RedisHandle, user: UserId) -> String {
    redis.key(format_args!("user:{user}"))
}

/// The pub/sub channel of one room.
pub fn room_channel(redis: &RedisHandle, room: RoomId) -> String {
    redis.key(format_args!("room:{room}"))
}

/// An event published by a service for delivery over signaling.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type")]
pub enum BusEvent {
    /// A fan asked a creator for a private session (sent to the creator).
    #[serde(rename = "private.request")]
    PrivateRequest {
        /// The request.
        request_id: RequestId,
        /// Who asked.
        fan_id: UserId,
        /// The fan's handle, for display.
        fan_handle: String,
        /// Unix seconds after which the request expires.
        expires_at: i64,
        /// Per-minute price in minor units, when billing is on.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        price_per_minute: Option<i64>,
    },
    /// The creator accepted (sent to the fan); the room is ready.
    #[serde(rename = "private.accepted")]
    PrivateAccepted {
        /// The request.
        request_id: RequestId,
        /// The private room created for it.
        room_id: RoomId,
    },
    /// The request will not become a session (sent to the other party).
    #[serde(rename = "private.declined")]
    PrivateDeclined {
        /// The request.
        request_id: RequestId,
        /// `declined`, `cancelled` or `expired`.
        reason: String,
    },
    /// A room ended (sent on the room channel).
    #[serde(rename = "room.ended")]
    RoomEnded {
        /// The room.
        room_id: RoomId,
        /// Why: `host_ended`, `heartbeat_lost`, `funds_exhausted`, ...
        reason: String,
    },
    /// A creator's availability changed.
    #[serde(rename = "presence")]
    Presence {
        /// The creator.
        user_id: UserId,
        /// `online`, `away`, `busy` or `offline`.
        status: String,
    },
    /// A room's AI effect changed (sent on the room channel): the host changed it, an
    /// audience round applied a prompt, or the artist's audio moved its params.
    #[serde(rename = "ai.updated")]
    AiUpdated {
        /// The room.
        room_id: RoomId,
        /// The prompt now.
        prompt: String,
        /// The effective params now (`prompt` among them).
        params: serde_json::Value,
        /// What changed it: `host`, `vote`, `audio`.
        source: AiSource,
    },
    /// A showcase's next segment started (sent on the room channel): at start, on schedule, or
    /// early because the artist moved on.
    #[serde(rename = "segment.started")]
    SegmentStarted {
        /// The showcase's room.
        room_id: RoomId,
        /// The showcase.
        showcase_id: ShowcaseId,
        /// Position in the schedule, from 0.
        index: u32,
        /// What the segment is.
        kind: SegmentKind,
        /// When it is scheduled to end (Unix ms).
        ends_at: i64,
    },
    /// A user was taken out of a room (sent on the room channel): every node takes that user's
    /// sockets out of the room, then tells the members (the reason is never sent).
    #[serde(rename = "member.removed")]
    MemberRemoved {
        /// The room.
        room_id: RoomId,
        /// Who was removed.
        user_id: UserId,
        /// `kicked` (may come back) or `banned`.
        removal: crate::moderation::Removal,
    },
    /// A user was muted or unmuted in a room (sent on the room channel); nodes also drop the
    /// room's cached policy.
    #[serde(rename = "member.muted")]
    MemberMuted {
        /// The room.
        room_id: RoomId,
        /// Who.
        user_id: UserId,
        /// Muted now (false: unmuted).
        muted: bool,
        /// Until when (Unix ms), if the mute ends before the room does.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<i64>,
    },
    /// The creator changed the room's rules (slow mode, blocklist, blocked regions); sent on
    /// the room channel so that nodes drop the cached policy.
    #[serde(rename = "room.policy")]
    RoomPolicyChanged {
        /// The room.
        room_id: RoomId,
        /// Seconds between a user's chat lines now (0: off).
        slow_mode_secs: u32,
    },
    /// Any other event a service wants delivered as-is (billing warnings, tips, ...).
    #[serde(rename = "notice")]
    Notice {
        /// Event name shown to the client, e.g. `billing.low_balance`.
        event: String,
        /// Event body.
        data: serde_json::Value,
    },
}

/// What a segment of a showcase is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SegmentKind {
    /// The artist performs.
    Performance,
    /// The artist answers the audience's questions.
    Workshop,
}

impl SegmentKind {
    /// The lowercase name sent in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            SegmentKind::Performance => "performance",
            SegmentKind::Workshop => "workshop",
        }
    }
}

/// What changed a room's AI effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AiSource {
    /// The host (route or socket).
    Host,
    /// The winning proposal of an audience round.
    Vote,
    /// The artist's audio level.
    Audio,
}

/// Publish `event` on `channel`.
///
/// # Errors
/// Redis unreachable.
pub async fn publish(redis: &RedisHandle, channel: &str, event: &BusEvent) -> anyhow::Result<()> {
    let payload = serde_json::to_string(event)?;
    let mut conn = redis.conn.clone();
    conn.publish::<_, _, ()>(channel, payload).await?;
    Ok(())
}

/// Type of the control message that tells signaling an access token was revoked (by logout):
/// `{"type":"sig.token_revoked","jti":"<uuid>"}` on the user's channel. Every node closes that
/// user's sockets opened with the token; it is never forwarded to clients (`sig.` prefix).
pub const TOKEN_REVOKED_TYPE: &str = "sig.token_revoked";

/// Publish [`TOKEN_REVOKED_TYPE`] for `jti` on `user`'s channel.
///
/// # Errors
/// Redis unreachable.
pub async fn publish_token_revoked(redis: &RedisHandle, user: UserId, jti: uuid::Uuid) -> anyhow::Result<()> {
    let payload = serde_json::json!({"type": TOKEN_REVOKED_TYPE, "jti": jti}).to_string();
    let mut conn = redis.conn.clone();
    conn.publish::<_, _, ()>(user_channel(redis, user), payload).await?;
    Ok(())
}

/// Type of the control message that tells signaling sessions (refresh-token families) were
/// signed out: `{"type":"sig.sessions_revoked","families":["<uuid>", ...]}` on the user's
/// channel. Every node closes that user's sockets whose access token belongs to one of them
/// (session revoked, sign out everywhere, password reset); never forwarded to clients.
pub const SESSIONS_REVOKED_TYPE: &str = "sig.sessions_revoked";

/// Publish [`SESSIONS_REVOKED_TYPE`] for `families` on `user`'s channel (nothing when empty).
///
/// # Errors
/// Redis unreachable.
pub async fn publish_sessions_revoked(
    redis: &RedisHandle,
    user: UserId,
    families: &[crate::ids::TokenFamilyId],
) -> anyhow::Result<()> {
    if families.is_empty() {
        return Ok(());
    }
    let payload = serde_json::json!({"type": SESSIONS_REVOKED_TYPE, "families": families}).to_string();
    let mut conn = redis.conn.clone();
    conn.publish::<_, _, ()>(user_channel(redis, user), payload).await?;
    Ok(())
}
