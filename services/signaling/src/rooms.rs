//! Rooms as signaling sees them: asked of the broker (room control), cached briefly.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tandem_shared::hooks::{Hooks, RoomKind as SharedRoomKind};
use tandem_shared::ids::{RoomId, UserId};

use crate::protocol::{ErrorCode, MemberRole, Refusal};

/// How long a looked-up room is trusted. `room.ended` events evict earlier.
const CACHE_TTL: Duration = Duration::from_secs(5);
/// Cached rooms kept at most; the cache is cleared when it grows past this.
const CACHE_MAX: usize = 50_000;

/// Broadcast or private.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomKind {
    /// One host, many viewers, an optional stage guest.
    Broadcast,
    /// Exactly two participants.
    Private,
}

/// What signaling needs of a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomInfo {
    /// The room.
    pub room_id: RoomId,
    /// Broadcast or private.
    pub kind: RoomKind,
    /// Still live.
    pub live: bool,
    /// The creator.
    pub host_id: UserId,
    /// The fan of a private room.
    pub guest_id: Option<UserId>,
}

impl RoomInfo {
    /// The role `user` would hold in this room, or a refusal if they may not enter.
    ///
    /// # Errors
    /// [`ErrorCode::RoomEnded`] or [`ErrorCode::Forbidden`].
    pub fn admit(&self, user: UserId) -> Result<MemberRole, Refusal> {
        if !self.live {
            return Err(Refusal::new(ErrorCode::RoomEnded, "the room has ended"));
        }
        if user == self.host_id {
            return Ok(MemberRole::Host);
        }
        match self.kind {
            RoomKind::Private if Some(user) == self.guest_id => Ok(MemberRole::Guest),
            RoomKind::Private => Err(Refusal::new(ErrorCode::Forbidden, "this private room is not yours")),
            RoomKind::Broadcast => Ok(MemberRole::Viewer),
        }
    }

    /// Whether `a` may send SDP/ICE to `b` in this room: both are its two participants.
    pub fn are_peers(&self, a: UserId, b: UserId) -> bool {
        let Some(guest) = self.guest_id else { return false };
        self.kind == RoomKind::Private && a != b && [a, b].iter().all(|u| *u == self.host_id || *u == guest)
    }
}

/// Room lookups with a short per-node cache (hot broadcasts are joined by many at once).
pub struct RoomDirectory {
    hooks: Hooks,
    cache: Mutex<HashMap<RoomId, (Arc<RoomInfo>, Instant)>>,
}

impl RoomDirectory {
    /// A directory asking the room control installed in `hooks`.
    pub fn new(hooks: Hooks) -> Self {
        Self { hooks, cache: Mutex::new(HashMap::new()) }
    }

    /// The room, from cache or the broker; `None` if it does not exist.
    ///
    /// # Errors
    /// No room control is installed, or the broker cannot be reached.
    pub async fn get(&self, room: RoomId) -> anyhow::Result<Option<Arc<RoomInfo>>> {
        if let Some(hit) = self.cached(room) {
            return Ok(Some(hit));
        }
        let control = self.hooks.rooms().ok_or_else(|| anyhow::anyhow!("no room control is installed"))?;
        let Some(summary) = control.room(room).await? else { return Ok(None) };
        let info = Arc::new(RoomInfo {
            room_id: summary.room_id,
            kind: match summary.kind {
                SharedRoomKind::Private => RoomKind::Private,
                SharedRoomKind::Broadcast => RoomKind::Broadcast,
            },
            live: summary.live,
            host_id: summary.host_id,
            guest_id: summary.guest_id,
        });
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_MAX {
                cache.clear();
            }
            cache.insert(room, (info.clone(), Instant::now()));
        }
        Ok(Some(info))
    }

    fn cached(&self, room: RoomId) -> Option<Arc<RoomInfo>> {
        let cache = self.cache.lock().ok()?;
        let (info, at) = cache.get(&room)?;
        (at.elapsed() < CACHE_TTL).then(|| info.clone())
    }

    /// Forget a room (it ended).
    pub fn evict(&self, room: RoomId) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(&room);
        }
    }

    /// Drop expired entries.
    pub fn prune(&self) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn private() -> RoomInfo {
        RoomInfo {
            room_id: RoomId::new(),
            kind: RoomKind::Private,
            live: true,
            host_id: UserId::new(),
            guest_id: Some(UserId::new()),
        }
    }

    #[test]
    fn private_rooms_admit_only_their_two_participants() {
        let r = private();
        assert_eq!(r.admit(r.host_id), Ok(MemberRole::Host));
        assert_eq!(r.admit(r.guest_id.unwrap()), Ok(MemberRole::Guest));
        assert_eq!(r.admit(UserId::new()).unwrap_err().code, ErrorCode::Forbidden);
        assert!(r.are_peers(r.host_id, r.guest_id.unwrap()));
        assert!(!r.are_peers(r.host_id, UserId::new()));
        assert!(!r.are_peers(r.host_id, r.host_id));
    }

    #[test]
    fn ended_rooms_admit_nobody() {
        let r = RoomInfo { live: false, ..private() };
        assert_eq!(r.admit(r.host_id).unwrap_err().code, ErrorCode::RoomEnded);
    }

    #[test]
    fn broadcasts_admit_anyone_but_have_no_peers() {
        let r = RoomInfo { kind: RoomKind::Broadcast, guest_id: None, ..private() };
        assert_eq!(r.admit(UserId::new()), Ok(MemberRole::Viewer));
        assert!(!r.are_peers(r.host_id, UserId::new()));
    }
}
