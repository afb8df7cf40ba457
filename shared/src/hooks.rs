//! The contracts between services, and the [`Hooks`] of a process that hold them.
//!
//! The broker asks a [`PaymentGate`] (owned by billing) before and at the start of a paid
//! private session; billing's meter and signaling reach rooms through [`RoomControl`] (owned by
//! the broker); everyone learns a user's role and handle from the [`UserDirectory`] (owned by
//! auth). Each contract has two implementations: the owner's in-process one, and a remote one
//! over internal HTTP ([`crate::contracts`]). `tandem serve` installs the in-process ones; a
//! per-service binary installs remote ones for what it does not own
//! ([`crate::contracts::install_remote`]) and refuses to start without them. Only tests run a
//! service with a hook missing.

use crate::ids::{Role, RoomId, SlotId, UserId};
use crate::moderation::{ModerationRefusal, ModerationRequest, RoomPolicy};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, OnceLock};

/// Why billing refused to let a session start or continue.
#[derive(Debug, thiserror::Error)]
pub enum PaymentRefusal {
    /// The fan's wallet does not cover what is needed.
    #[error("insufficient funds: {needed} needed, {available} available")]
    InsufficientFunds {
        /// Minor units needed.
        needed: i64,
        /// Minor units available.
        available: i64,
    },
    /// The wallet is frozen (taken negative by a refund or dispute).
    #[error("the wallet is frozen")]
    WalletFrozen,
    /// Billing refused for another stated reason (a stable code and a message for people).
    #[error("{message}")]
    Refused {
        /// Stable code, e.g. `invalid_amount`, `room_not_live`.
        code: &'static str,
        /// Explanation.
        message: String,
    },
    /// Billing could not be reached or failed.
    #[error(transparent)]
    Unavailable(#[from] anyhow::Error),
}

/// What billing says about a fan and creator before a private request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriceQuote {
    /// Creator's price per started minute, minor units.
    pub price_per_minute: i64,
    /// Currency of the price, e.g. `usd`.
    pub currency: &'static str,
}

/// Billing for paid private sessions, as the broker sees it.
#[async_trait::async_trait]
pub trait PaymentGate: Send + Sync + 'static {
    /// Before a private request is recorded: the creator's price, refused if the fan cannot
    /// cover the first minute. `Ok(None)` when the creator charges nothing.
    async fn quote_private(&self, fan: UserId, creator: UserId) -> Result<Option<PriceQuote>, PaymentRefusal>;
    /// When the creator accepts: open the session at `price_per_minute` (the price the fan was
    /// quoted, whatever the creator's price is now; 0 = free), minutes counted from `started_at`
    /// (the room's creation), and charge the first minute. Idempotent per room.
    async fn start_private(
        &self,
        room: RoomId,
        fan: UserId,
        creator: UserId,
        started_at: DateTime<Utc>,
        price_per_minute: i64,
    ) -> Result<(), PaymentRefusal>;
    /// When a private room ends, whatever the reason (idempotent).
    async fn end_private(&self, room: RoomId) -> anyhow::Result<()>;
    /// A tip from `from` to the host of `room`: move the money, then announce it to the room
    /// (billing publishes the event, so the caller must not announce it again).
    /// `idempotency_key` makes a retried tip apply once.
    async fn tip(
        &self,
        room: RoomId,
        from: UserId,
        amount: i64,
        note: Option<String>,
        idempotency_key: Option<String>,
    ) -> Result<(), PaymentRefusal> {
        let _ = (room, from, amount, note, idempotency_key);
        Err(PaymentRefusal::Refused { code: "tips_unavailable", message: "tips are not available here".into() })
    }
    /// Whether `creator` is verified (Stripe Identity or an operator), so may go live, set a
    /// price and accept private sessions. Billing answers `true` for everyone when the
    /// deployment does not require verification (development). The default says `true`.
    async fn creator_verified(&self, creator: UserId) -> anyhow::Result<bool> {
        let _ = creator;
        Ok(true)
    }
}

/// Broadcast or private, as other services see a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoomKind {
    /// One host, many viewers, an optional guest on stage.
    Broadcast,
    /// A paid 1-to-1 session: host and guest.
    Private,
}

/// What other services may know of a room (the broker owns it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSummary {
    /// The room.
    pub room_id: RoomId,
    /// Broadcast or private.
    pub kind: RoomKind,
    /// Still live.
    pub live: bool,
    /// The creator hosting it.
    pub host_id: UserId,
    /// The fan of a private room.
    pub guest_id: Option<UserId>,
    /// When it opened.
    pub created_at: DateTime<Utc>,
    /// When it ended, if it has.
    pub ended_at: Option<DateTime<Utc>>,
}

/// A slot that may still carry media, with its current publish generation (bumped by the broker
/// whenever a broadcast's stage changes; publish tokens of older generations are refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveSlot {
    /// The slot.
    pub slot_id: SlotId,
    /// Its publish generation.
    pub generation: u32,
}

/// What other services may know of a user (auth owns accounts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSummary {
    /// The user.
    pub user_id: UserId,
    /// Their role.
    pub role: Role,
    /// Public handle.
    pub handle: String,
}

/// Accounts, as other services see them.
#[async_trait::async_trait]
pub trait UserDirectory: Send + Sync + 'static {
    /// The user, or `None` when there is no such account.
    async fn user(&self, user: UserId) -> anyhow::Result<Option<UserSummary>>;
}

/// Room lifecycle, as billing and signaling see it.
#[async_trait::async_trait]
pub trait RoomControl: Send + Sync + 'static {
    /// The room, or `None` when there is no such room.
    async fn room(&self, room: RoomId) -> anyhow::Result<Option<RoomSummary>>;
    /// Which of `slots` may no longer carry media: their room ended, the slot was released, or
    /// no such slot exists. The broker answers from PostgreSQL, the truth, so a relay that
    /// missed a release (Redis lost it, the message was dropped) still learns it.
    async fn released_slots(&self, slots: &[SlotId]) -> anyhow::Result<Vec<SlotId>>;
    /// The slots among `slots` that may still carry media, each with its current publish
    /// generation; released and unknown slots are absent. The relay asks this before every
    /// WHIP/WHEP session and when it re-validates running slots. The default derives it from
    /// [`RoomControl::released_slots`] with generation 0 (slots whose stage never changes).
    async fn live_slots(&self, slots: &[SlotId]) -> anyhow::Result<Vec<LiveSlot>> {
        let released = self.released_slots(slots).await?;
        Ok(slots.iter().filter(|s| !released.contains(s)).map(|&slot_id| LiveSlot { slot_id, generation: 0 }).collect())
    }
    /// End a live room with `reason` (idempotent): releases both slots, frees locks, tells members.
    /// Returns true when this call ended it, false when it had already ended.
    async fn end_room(&self, room: RoomId, reason: &str) -> anyhow::Result<bool>;
    /// A participant's heartbeat (from signaling).
    async fn heartbeat(&self, room: RoomId, user: UserId) -> anyhow::Result<()>;
    /// Put `user` on a live broadcast's stage (`Some`; their view of the room then carries the
    /// `guest` slot's publish endpoint, replacing whoever was on it), or clear the stage
    /// (`None`). The caller has checked who may. The default does nothing.
    async fn set_stage(&self, room: RoomId, user: Option<UserId>) -> anyhow::Result<()> {
        let _ = (room, user);
        Ok(())
    }
    /// `user` leaves the stage or is taken off it: clear the stage only if `user` is still on
    /// it (someone accepted since). The default clears it with [`RoomControl::set_stage`].
    async fn leave_stage(&self, room: RoomId, user: UserId) -> anyhow::Result<()> {
        let _ = user;
        self.set_stage(room, None).await
    }
    /// What signaling enforces in `room` (mutes, slow mode, blocklist, blocked regions) and,
    /// with `user`, whether that user is banned from it. `None` when there is no such room.
    /// The default has no rules.
    async fn policy(&self, room: RoomId, user: Option<UserId>) -> anyhow::Result<Option<RoomPolicy>> {
        let _ = user;
        Ok(self.room(room).await?.map(|r| RoomPolicy {
            room_id: r.room_id,
            host_id: r.host_id,
            muted: Vec::new(),
            slow_mode_secs: 0,
            blocked_words: Vec::new(),
            blocked_regions: Vec::new(),
            banned: false,
        }))
    }
    /// Whether `user` is banned from the room of `slot` (the relay asks before every session).
    /// The default bans nobody.
    async fn banned_on_slot(&self, slot: SlotId, user: UserId) -> anyhow::Result<bool> {
        let _ = (slot, user);
        Ok(false)
    }
    /// Kick, ban, mute (or lift a ban or mute): the broker checks the actor is the room's host
    /// or an operator, records it, tells the room and the relays, and writes the audit log.
    async fn moderate(&self, request: ModerationRequest) -> Result<(), ModerationRefusal> {
        let _ = request;
        Err(ModerationRefusal::Refused { code: "unavailable", message: "moderation is not available here".into() })
    }
}

/// A room's AI effect, as signaling sees it (the broker owns it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AiSummary {
    /// The room.
    pub room_id: RoomId,
    /// The prompt now.
    pub prompt: String,
    /// Whether changes still apply (the room is live).
    pub active: bool,
}

/// Why the broker refused an AI change.
#[derive(Debug, thiserror::Error)]
pub enum AiRefusal {
    /// Refused with a stable code (`not_found`, `invalid_value`, `forbidden`, `room_ended`,
    /// `ai_provider_error`) and a message for people.
    #[error("{message}")]
    Refused {
        /// Stable code.
        code: &'static str,
        /// Explanation.
        message: String,
    },
    /// The broker (or Daydream behind it) could not be reached.
    #[error(transparent)]
    Unavailable(#[from] anyhow::Error),
}

/// A room's AI effect, as signaling drives it (audience rounds, the artist's audio).
#[async_trait::async_trait]
pub trait AiControl: Send + Sync + 'static {
    /// The room's AI effect, or `None` when the room has none (or does not exist).
    async fn ai(&self, room: RoomId) -> anyhow::Result<Option<AiSummary>>;
    /// Apply `prompt` live (one update of the pipeline) and announce `ai.updated`. With
    /// `apply_key`, a retried call with the same key applies once.
    async fn apply_prompt(
        &self,
        room: RoomId,
        prompt: &str,
        source: crate::events::AiSource,
        apply_key: Option<&str>,
    ) -> Result<AiSummary, AiRefusal>;
    /// The host's audio level (0–1) and beat: mapped onto declared params and applied at most
    /// at the configured rate (levels in between are coalesced, the latest wins).
    async fn audio(&self, room: RoomId, user: UserId, level: f64, beat: bool) -> Result<(), AiRefusal>;
}

#[derive(Default)]
struct Inner {
    payment: OnceLock<Arc<dyn PaymentGate>>,
    rooms: OnceLock<Arc<dyn RoomControl>>,
    users: OnceLock<Arc<dyn UserDirectory>>,
    ai: OnceLock<Arc<dyn AiControl>>,
    audit: OnceLock<Arc<dyn crate::audit::AuditLog>>,
}

/// The hooks of one process, set once at start-up.
#[derive(Clone, Default)]
pub struct Hooks {
    inner: Arc<Inner>,
}

impl Hooks {
    /// Install the payment gate; later calls are ignored.
    pub fn set_payment(&self, gate: Arc<dyn PaymentGate>) {
        let _ = self.inner.payment.set(gate);
    }
    /// The payment gate, if installed.
    pub fn payment(&self) -> Option<Arc<dyn PaymentGate>> {
        self.inner.payment.get().cloned()
    }
    /// Install room control; later calls are ignored.
    pub fn set_rooms(&self, rooms: Arc<dyn RoomControl>) {
        let _ = self.inner.rooms.set(rooms);
    }
    /// Room control, if installed.
    pub fn rooms(&self) -> Option<Arc<dyn RoomControl>> {
        self.inner.rooms.get().cloned()
    }
    /// Install the user directory; later calls are ignored.
    pub fn set_users(&self, users: Arc<dyn UserDirectory>) {
        let _ = self.inner.users.set(users);
    }
    /// Install AI control; later calls are ignored.
    pub fn set_ai(&self, ai: Arc<dyn AiControl>) {
        let _ = self.inner.ai.set(ai);
    }
    /// AI control, if installed.
    pub fn ai(&self) -> Option<Arc<dyn AiControl>> {
        self.inner.ai.get().cloned()
    }
    /// Install the audit log; later calls are ignored.
    pub fn set_audit(&self, log: Arc<dyn crate::audit::AuditLog>) {
        let _ = self.inner.audit.set(log);
    }
    /// The audit log, if installed.
    pub fn audit(&self) -> Option<Arc<dyn crate::audit::AuditLog>> {
        self.inner.audit.get().cloned()
    }
    /// The user directory, if installed.
    pub fn users(&self) -> Option<Arc<dyn UserDirectory>> {
        self.inner.users.get().cloned()
    }
}
