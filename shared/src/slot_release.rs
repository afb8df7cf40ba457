//! Slot releases: how the broker tells every relay process that a room's slots are gone.
//!
//! Relay media tokens stay valid until they expire, so ending a room must reach the relay on
//! its own. When a room served by the relay ends, the broker calls [`announce`], which
//!
//! 1. sets `<prefix>relay:released:<slot_id>` (value: the room id) for each slot, with a TTL
//!    at least the media-token TTL, so a relay refuses a new WHIP/WHEP with a token issued
//!    before the end ([`is_released`]);
//! 2. publishes the JSON of [`SlotRelease`] on `<prefix>relay:release`
//!    ([`release_channel`]); every relay process subscribes and ends the publisher and the
//!    players of those slots.
//!
//! Markers are written before the message, so a relay that sees the message (or starts a
//! session after it) also sees the markers.
//!
//! A stage change is announced the same way with [`SlotRelease::generation`] set: the slot stays
//! live, but publishers whose token carries an older generation are ended (no marker is written;
//! the relay learns the generation from the broker before every session and on re-validation).

use crate::ids::{RoomId, SlotId};
use crate::redis::RedisHandle;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The pub/sub channel every relay listens on.
pub fn release_channel(redis: &RedisHandle) -> String {
    redis.key("relay:release")
}

/// The marker of a released slot.
pub fn released_key(redis: &RedisHandle, slot: SlotId) -> String {
    redis.key(format_args!("relay:released:{slot}"))
}

/// The message on [`release_channel`]: these slots of this room are released.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotRelease {
    /// The room that ended.
    pub room_id: RoomId,
    /// Its slots (host and guest).
    pub slot_ids: Vec<SlotId>,
    /// `None`: the room ended and the slots are released. `Some(g)`: the slots stay live but
    /// their publish generation is now `g` (the stage changed), so older publishers end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<u32>,
    /// `Some(user)`: only that user's sessions on the slots end (kicked or banned from the
    /// room); the slots stay live and nothing is marked released. Checked before
    /// [`SlotRelease::generation`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<crate::ids::UserId>,
}

/// Mark `release.slot_ids` released for `ttl` (rounded up to whole seconds, at least one;
/// skipped for a generation change), then publish `release` to every relay.
///
/// # Errors
/// Redis unreachable.
pub async fn announce(redis: &RedisHandle, release: &SlotRelease, ttl: Duration) -> anyhow::Result<()> {
    let secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
    let secs = secs.max(1);
    let mut conn = redis.conn.clone();
    if release.generation.is_none() && release.user_id.is_none() {
        let mut pipe = redis::pipe();
        for slot in &release.slot_ids {
            pipe.set_ex(released_key(redis, *slot), release.room_id.to_string(), secs).ignore();
        }
        pipe.query_async::<()>(&mut conn).await?;
    }
    conn.publish::<_, _, ()>(release_channel(redis), serde_json::to_string(release)?).await?;
    Ok(())
}

/// Whether `slot` was released (and its marker has not expired).
///
/// # Errors
/// Redis unreachable.
pub async fn is_released(redis: &RedisHandle, slot: SlotId) -> anyhow::Result<bool> {
    let mut conn = redis.conn.clone();
    Ok(conn.exists(released_key(redis, slot)).await?)
}
