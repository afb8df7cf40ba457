//! [`Broker`]: the room lifecycle — open with both slots or none, heartbeat, end exactly once.

use crate::config::BrokerSettings;
use crate::domain::{end_reason, MediaMode, RoomKind, RoomStatus, SlotName};
use crate::error::BrokerError;
use crate::presence;
use crate::provider::livepeer::LivepeerProvider;
use crate::provider::relay::RelayProvider;
use crate::provider::{ProviderError, StreamProvider, StreamSpec};
use crate::store::{self, NewSlot, RoomRow};
use redis::AsyncCommands;
use std::sync::Arc;
use tandem_shared::error::violated_constraint;
use tandem_shared::events::{publish, room_channel, user_channel, BusEvent};
use tandem_shared::hooks::{RoomKind as SharedRoomKind, RoomSummary, UserSummary};
use tandem_shared::ids::{RoomId, SlotId, UserId};
use tandem_shared::live::{heartbeat_member, heartbeats_key, record_heartbeat};
use tandem_shared::media_token::MediaKey;
use tandem_shared::server::Core;
use tandem_shared::slot_release::{self, SlotRelease};

/// The broker of one process. Cheap to clone; state lives in Postgres and Redis, so any number
/// of brokers may run against the same database and Redis prefix.
#[derive(Clone)]
pub struct Broker {
    /// Database, Redis, hooks.
    pub core: Core,
    /// Broker settings.
    pub settings: Arc<BrokerSettings>,
    /// Key of relay media tokens and internal slot-state reports.
    pub media_key: MediaKey,
    relay: Arc<RelayProvider>,
    livepeer: Option<Arc<LivepeerProvider>>,
    /// AI effects of rooms (Daydream, or local mode).
    pub ai: crate::ai::AiEngine,
    /// Live rooms recently read by [`Broker::heartbeat`], so that thousands of participants
    /// heartbeating every few seconds do not each cost a PostgreSQL read. Entries live
    /// [`LIVE_CACHE_TTL`]; this node drops a room's entry when it ends it. A heartbeat another
    /// node's stale entry records after the end is harmless: the host's lock refresh compares
    /// the room id, and the reaper trims heartbeat members older than ten minutes.
    live_cache: Arc<std::sync::Mutex<std::collections::HashMap<RoomId, LiveRoom>>>,
}

/// How long [`Broker::heartbeat`] trusts a cached live room.
const LIVE_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);

/// What a heartbeat needs to know about a live room.
#[derive(Clone, Copy)]
struct LiveRoom {
    host_id: UserId,
    guest_id: Option<UserId>,
    private: bool,
    read_at: std::time::Instant,
}

impl Broker {
    /// Build a broker; the Livepeer client exists when its settings do.
    ///
    /// # Errors
    /// Invalid settings or the HTTP client cannot be built.
    pub fn new(core: Core, settings: BrokerSettings, media_key: MediaKey) -> anyhow::Result<Self> {
        settings.validate()?;
        let relay =
            Arc::new(RelayProvider::new(&core.settings.public_url, media_key.clone(), settings.media_token_ttl));
        let livepeer = settings
            .livepeer
            .clone()
            .map(LivepeerProvider::new)
            .transpose()?
            .map(|p| Arc::new(p.with_access_tokens(media_key.clone(), settings.media_token_ttl)));
        let ai = crate::ai::AiEngine::new(core.clone(), settings.daydream.clone(), settings.ai_max_updates_per_sec)?;
        Ok(Self { core, settings: Arc::new(settings), media_key, relay, livepeer, ai, live_cache: Arc::default() })
    }

    /// The provider of a media mode (`None` for p2p, which has no streams).
    pub fn provider(&self, media: MediaMode) -> Option<Arc<dyn StreamProvider>> {
        match media {
            MediaMode::Relay => Some(self.relay.clone()),
            MediaMode::Livepeer => self.livepeer.clone().map(|p| p as Arc<dyn StreamProvider>),
            MediaMode::P2p => None,
        }
    }

    /// The Livepeer client, when this deployment has one.
    pub(crate) fn livepeer_client(&self) -> Option<Arc<LivepeerProvider>> {
        self.livepeer.clone()
    }

    /// Whether `media` can be served for a room of `kind`.
    ///
    /// # Errors
    /// 400 when not.
    pub fn check_media(&self, kind: RoomKind, media: MediaMode) -> Result<(), BrokerError> {
        match media {
            MediaMode::P2p if kind == RoomKind::Broadcast => {
                Err(BrokerError::Validation("p2p media is for private rooms only".into()))
            }
            MediaMode::Livepeer if self.livepeer.is_none() => {
                Err(BrokerError::Validation("livepeer media is not configured on this deployment".into()))
            }
            _ => Ok(()),
        }
    }

    /// Create both slots' streams, or none: if the second fails the first is deleted.
    ///
    /// # Errors
    /// The provider's error (502/503).
    pub async fn create_slots(
        &self,
        room_id: RoomId,
        kind: RoomKind,
        media: MediaMode,
        host_id: UserId,
    ) -> Result<Vec<NewSlot>, BrokerError> {
        let mut slots = Vec::with_capacity(2);
        let provider = self.provider(media);
        for name in [SlotName::Host, SlotName::Guest] {
            let slot_id = SlotId::new();
            let stream = match &provider {
                None => None,
                Some(p) => {
                    let spec = StreamSpec { room_id, slot_id, slot: name, kind, host_id };
                    match p.create_stream(&spec).await {
                        Ok(s) => Some(s),
                        Err(e) => {
                            self.delete_streams(&slots, media).await;
                            metrics::counter!("broker_pair_rollbacks_total", "media" => media.as_str()).increment(1);
                            return Err(e.into());
                        }
                    }
                }
            };
            slots.push(NewSlot { slot_id, name, stream });
        }
        Ok(slots)
    }

    /// Best-effort delete of streams that were created but will not be used.
    async fn delete_streams(&self, slots: &[NewSlot], media: MediaMode) {
        let Some(p) = self.provider(media) else { return };
        for slot in slots {
            if let Some(stream) = &slot.stream {
                if let Err(e) = p.delete_stream(&stream.stream_id).await {
                    tracing::error!(stream_id = %stream.stream_id, error.message = %e, "failed to delete a rolled-back stream");
                }
            }
        }
    }

    /// A user's role and handle from the user directory (auth owns accounts).
    ///
    /// # Errors
    /// 503 when the directory is not installed or cannot be reached.
    pub async fn user(&self, user: UserId) -> Result<Option<UserSummary>, BrokerError> {
        let users = self.core.hooks.users().ok_or(BrokerError::Unavailable("the user directory"))?;
        users.user(user).await.map_err(|e| {
            tracing::error!(%user, error.cause_chain = ?e, "user directory unavailable");
            BrokerError::Unavailable("the user directory")
        })
    }

    /// Open a broadcast for `host`, with an AI effect when `ai` is given (its Daydream stream
    /// is created first and deleted again if anything after it fails).
    ///
    /// # Errors
    /// 409 `already_live` when the host has a live room; 400 for bad AI params; provider and
    /// Daydream errors.
    pub async fn open_broadcast(
        &self,
        host: UserId,
        title: &str,
        media: MediaMode,
        ai: Option<crate::ai::AiRequest>,
    ) -> Result<(RoomRow, Option<crate::ai::store::AiRow>), BrokerError> {
        self.check_media(RoomKind::Broadcast, media)?;
        self.require_verified(host).await?;
        if store::live_room_of_host(&self.core.db, host).await?.is_some() {
            return Err(BrokerError::conflict("already_live", "you already host a live room; end it first"));
        }
        let handle = self.user(host).await?.map(|u| u.handle).unwrap_or_default();
        let room_id = RoomId::new();
        let ai = match ai {
            Some(req) => Some(self.ai.prepare(room_id, req).await?),
            None => None,
        };
        let slots = match self.create_slots(room_id, RoomKind::Broadcast, media, host).await {
            Ok(s) => s,
            Err(e) => {
                if let Some(row) = &ai {
                    self.ai.discard(row).await;
                }
                return Err(e);
            }
        };
        let inserted = self.insert_broadcast(room_id, media, host, title, &handle, &slots, ai.as_ref()).await;
        let room = match inserted {
            Ok(room) => room,
            Err(e) => {
                self.delete_streams(&slots, media).await;
                if let Some(row) = &ai {
                    self.ai.discard(row).await;
                }
                return Err(e);
            }
        };
        record_heartbeat(&self.core.redis, room_id, host).await?;
        metrics::counter!("broker_rooms_opened_total", "kind" => "broadcast", "media" => media.as_str()).increment(1);
        tracing::info!(%room_id, %host, %media, ai = ai.as_ref().map(|a| a.mode.as_str()), "broadcast opened");
        Ok((room, ai))
    }

    /// Insert a broadcast, its slots and its AI row in one transaction.
    #[allow(clippy::too_many_arguments)]
    async fn insert_broadcast(
        &self,
        room_id: RoomId,
        media: MediaMode,
        host: UserId,
        title: &str,
        handle: &str,
        slots: &[NewSlot],
        ai: Option<&crate::ai::store::AiRow>,
    ) -> Result<RoomRow, BrokerError> {
        let mut tx = self.core.db.begin().await?;
        let room =
            store::insert_room(&mut tx, room_id, RoomKind::Broadcast, media, host, None, title, handle, 0, slots)
                .await
                .map_err(|e| {
                    if violated_constraint(&e) == Some("rooms_one_live_per_host") {
                        return BrokerError::conflict("already_live", "you already host a live room; end it first");
                    }
                    e.into()
                })?;
        if let Some(row) = ai {
            crate::ai::store::insert(&mut tx, row).await?;
        }
        tx.commit().await?;
        Ok(room)
    }

    /// End a live room with `reason`. Exactly one caller across all brokers gets `true` and does
    /// the teardown: release both slots, free the availability lock, drop heartbeats, settle
    /// billing and tell the members.
    ///
    /// # Errors
    /// Database errors on the conditional update (teardown errors are logged and retried by the
    /// reaper's sweep).
    pub async fn end_room(&self, room_id: RoomId, reason: &str) -> Result<bool, BrokerError> {
        self.live_cache.lock().unwrap_or_else(|e| e.into_inner()).remove(&room_id);
        let Some(room) = store::mark_ended(&self.core.db, room_id, reason).await? else {
            return Ok(false);
        };
        match self.provider(room.media) {
            Some(p) if p.has_remote_streams() => self.release_slots(room_id).await,
            // Ended from a process without a Livepeer client (e.g. standalone billing): the
            // slots stay held so that a broker's reaper deletes their streams.
            None if room.media == MediaMode::Livepeer => {
                tracing::info!(%room_id, "no Livepeer client here: a broker's reaper releases the slots");
            }
            _ => {
                if let Err(e) = store::mark_room_released(&self.core.db, room_id).await {
                    tracing::error!(%room_id, error.message = %e, "failed to mark slots released (the reaper retries)");
                }
            }
        }
        if room.media == MediaMode::Relay {
            self.release_relay_slots(room_id).await;
        }
        let redis = &self.core.redis;
        if room.kind == RoomKind::Private {
            if let Err(e) = presence::release_lock(redis, room.host_id, room_id).await {
                tracing::error!(%room_id, error.message = %e, "failed to release the availability lock (it expires)");
            }
            if let Some(gate) = self.core.hooks.payment() {
                if let Err(e) = gate.end_private(room_id).await {
                    tracing::error!(%room_id, error.cause_chain = ?e, "billing failed to settle an ended private room");
                }
            }
        }
        if room.kind == RoomKind::Broadcast {
            if let Err(e) = presence::clear_stage(redis, room_id).await {
                tracing::warn!(%room_id, error.message = %e, "failed to clear the stage (it expires)");
            }
            self.ai.room_ended(room_id).await;
            if let Err(e) = crate::showcase::store::end_of_room(&self.core.db, room_id).await {
                tracing::warn!(%room_id, error.message = %e, "failed to end the room's showcase (the reaper does)");
            }
        }
        let mut members = vec![heartbeat_member(room_id, room.host_id)];
        members.extend(room.guest_id.map(|g| heartbeat_member(room_id, g)));
        let mut c = redis.conn.clone();
        if let Err(e) = c.zrem::<_, _, ()>(heartbeats_key(redis), members).await {
            tracing::warn!(%room_id, error.message = %e, "failed to drop heartbeats of an ended room");
        }
        let event = BusEvent::RoomEnded { room_id, reason: reason.to_string() };
        let mut channels = vec![room_channel(redis, room_id)];
        if room.kind == RoomKind::Private {
            channels.push(user_channel(redis, room.host_id));
            channels.extend(room.guest_id.map(|g| user_channel(redis, g)));
        }
        for ch in channels {
            if let Err(e) = publish(redis, &ch, &event).await {
                tracing::warn!(%room_id, error.cause_chain = ?e, "failed to publish room.ended");
            }
        }
        metrics::counter!("broker_rooms_ended_total", "kind" => room.kind.as_str(), "reason" => reason.to_string())
            .increment(1);
        tracing::info!(%room_id, reason, "room ended");
        Ok(true)
    }

    /// Tell every relay process that the slots of an ended relay room are released: they end
    /// the slots' publisher and players and refuse the slots' still-valid tokens
    /// ([`tandem_shared::slot_release`]).
    async fn release_relay_slots(&self, room_id: RoomId) {
        let slot_ids = match store::slots(&self.core.db, room_id).await {
            Ok(slots) => slots.into_iter().map(|s| s.slot_id).collect(),
            Err(e) => {
                tracing::error!(%room_id, error.message = %e, "failed to load the slots to release on the relay");
                return;
            }
        };
        // Markers outlive every token issued before the end.
        let ttl = self.settings.media_token_ttl + std::time::Duration::from_secs(60);
        let release = SlotRelease { room_id, slot_ids, generation: None, user_id: None };
        if let Err(e) = slot_release::announce(&self.core.redis, &release, ttl).await {
            tracing::error!(%room_id, error.cause_chain = ?e, "failed to tell relays a room's slots are released");
        }
    }

    /// Delete the provider streams of a room's held slots and mark them released; a slot whose
    /// delete fails stays held for the reaper's sweep.
    pub async fn release_slots(&self, room_id: RoomId) {
        let slots = match store::slots(&self.core.db, room_id).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(%room_id, error.message = %e, "failed to load slots to release");
                return;
            }
        };
        for slot in slots.into_iter().filter(|s| s.released_at.is_none()) {
            self.release_slot(&slot).await;
        }
    }

    /// Release one slot (delete its stream, then mark it released).
    pub async fn release_slot(&self, slot: &store::SlotRow) {
        if let (Some(p), Some(stream_id)) = (self.provider(slot.provider), &slot.provider_stream_id) {
            if let Err(e) = p.delete_stream(stream_id).await {
                let transient = matches!(e, ProviderError::Unavailable(_));
                tracing::error!(slot_id = %slot.slot_id, %stream_id, transient, error.message = %e, "failed to delete a slot's stream");
                if transient {
                    return;
                }
            }
        }
        if let Err(e) = store::mark_released(&self.core.db, slot.slot_id).await {
            tracing::error!(slot_id = %slot.slot_id, error.message = %e, "failed to mark a slot released");
        }
    }

    /// A participant's heartbeat: records it and, for a private host, refreshes the lock.
    ///
    /// # Errors
    /// 404 unknown room or not a participant; 409 `room_ended`.
    pub async fn heartbeat(&self, room_id: RoomId, user: UserId) -> Result<(), BrokerError> {
        let cached = {
            let cache = self.live_cache.lock().unwrap_or_else(|e| e.into_inner());
            cache.get(&room_id).copied().filter(|r| r.read_at.elapsed() < LIVE_CACHE_TTL)
        };
        let room = match cached {
            Some(r) => r,
            None => {
                let row = store::room(&self.core.db, room_id).await?.ok_or(BrokerError::NotFound("room"))?;
                if row.status != crate::domain::RoomStatus::Live {
                    if !row.is_participant(user) {
                        return Err(BrokerError::NotFound("room"));
                    }
                    return Err(BrokerError::conflict("room_ended", "the room has ended"));
                }
                let live = LiveRoom {
                    host_id: row.host_id,
                    guest_id: row.guest_id,
                    private: row.kind == RoomKind::Private,
                    read_at: std::time::Instant::now(),
                };
                let mut cache = self.live_cache.lock().unwrap_or_else(|e| e.into_inner());
                if cache.len() > 100_000 {
                    cache.retain(|_, r| r.read_at.elapsed() < LIVE_CACHE_TTL);
                }
                cache.insert(room_id, live);
                live
            }
        };
        if room.host_id != user && room.guest_id != Some(user) {
            return Err(BrokerError::NotFound("room"));
        }
        record_heartbeat(&self.core.redis, room_id, user).await?;
        if room.private && room.host_id == user {
            presence::refresh_lock(&self.core.redis, user, room_id, self.settings.lock_ttl).await?;
        }
        Ok(())
    }

    /// Record a slot starting or stopping to publish (provider webhook or relay report).
    /// Returns false for unknown or released slots and for no-op changes.
    ///
    /// # Errors
    /// Database errors.
    pub async fn set_slot_state(&self, slot: SlotId, publishing: bool) -> Result<bool, BrokerError> {
        let changed = store::set_slot_state(&self.core.db, slot, publishing).await?;
        if let Some(room_id) = changed {
            tracing::info!(%room_id, slot_id = %slot, publishing, "slot state changed");
        }
        Ok(changed.is_some())
    }

    /// Put `user` on the stage of a live broadcast (replacing whoever was there), or clear the
    /// stage with `None`. Callers check who may do it.
    ///
    /// # Errors
    /// 409 `not_a_broadcast` or `room_ended`; 400 when `user` is the host or does not exist.
    pub async fn change_stage(&self, room: &RoomRow, user: Option<UserId>) -> Result<(), BrokerError> {
        let Some(user) = user else {
            presence::clear_stage(&self.core.redis, room.room_id).await?;
            self.stage_changed(room).await?;
            return Ok(());
        };
        if room.kind != RoomKind::Broadcast {
            return Err(BrokerError::conflict("not_a_broadcast", "only broadcasts have a stage"));
        }
        if room.status != RoomStatus::Live {
            return Err(BrokerError::conflict("room_ended", "the room has ended"));
        }
        if user == room.host_id || self.user(user).await?.is_none() {
            return Err(BrokerError::Validation("user_id must be another existing user".into()));
        }
        presence::set_stage(&self.core.redis, room.room_id, user, self.settings.media_token_ttl).await?;
        self.stage_changed(room).await?;
        tracing::info!(room_id = %room.room_id, user_id = %user, "user put on stage");
        Ok(())
    }

    /// The stage of `room` changed (after Redis says who is on it now): bump the guest slot's
    /// publish generation, so publish tokens issued to whoever was on stage stop opening
    /// sessions, and tell every relay to end publishers of older generations at once.
    ///
    /// Order matters: a room view reads the slots (PostgreSQL) before the stage (Redis), so a
    /// view that sees the new generation also sees the new stage, and a user taken off stage
    /// never receives a token of the new generation.
    ///
    /// # Errors
    /// Database errors (the announcement is best effort: relays re-validate with the broker).
    pub(crate) async fn stage_changed(&self, room: &RoomRow) -> Result<(), BrokerError> {
        if room.kind != RoomKind::Broadcast {
            return Ok(());
        }
        let Some((slot_id, generation)) = store::bump_guest_generation(&self.core.db, room.room_id).await? else {
            return Ok(());
        };
        if room.media != MediaMode::Relay {
            return Ok(());
        }
        let release = SlotRelease {
            room_id: room.room_id,
            slot_ids: vec![slot_id],
            generation: Some(u32::try_from(generation).unwrap_or(u32::MAX)),
            user_id: None,
        };
        let ttl = self.settings.media_token_ttl + std::time::Duration::from_secs(60);
        if let Err(e) = slot_release::announce(&self.core.redis, &release, ttl).await {
            tracing::warn!(room_id = %room.room_id, error.cause_chain = ?e, "failed to announce a stage change to relays (they re-validate)");
        }
        Ok(())
    }

    /// Who ends a room, as a reason: host, guest or operator.
    pub fn end_reason_for(room: &RoomRow, user: UserId) -> &'static str {
        if room.host_id == user {
            end_reason::HOST_ENDED
        } else if room.guest_id == Some(user) {
            end_reason::GUEST_ENDED
        } else {
            end_reason::OPERATOR_ENDED
        }
    }
}

/// [`tandem_shared::hooks::RoomControl`] for billing and signaling.
#[async_trait::async_trait]
impl tandem_shared::hooks::RoomControl for Broker {
    async fn end_room(&self, room: RoomId, reason: &str) -> anyhow::Result<bool> {
        if !crate::domain::valid_end_reason(reason) {
            anyhow::bail!("invalid end reason `{reason}`");
        }
        Broker::end_room(self, room, reason).await.map_err(|e| anyhow::anyhow!("{e:?}"))
    }

    /// Viewers and members of ended rooms are ignored (only hosts and private guests keep a room
    /// alive); only database or Redis failures are errors.
    async fn room(&self, room: RoomId) -> anyhow::Result<Option<RoomSummary>> {
        Ok(store::room(&self.core.db, room).await?.map(|r| RoomSummary {
            room_id: r.room_id,
            kind: match r.kind {
                RoomKind::Private => SharedRoomKind::Private,
                RoomKind::Broadcast => SharedRoomKind::Broadcast,
            },
            live: r.status == RoomStatus::Live,
            host_id: r.host_id,
            guest_id: r.guest_id,
            created_at: r.created_at,
            ended_at: r.ended_at,
        }))
    }

    async fn released_slots(&self, slots: &[SlotId]) -> anyhow::Result<Vec<SlotId>> {
        Ok(store::released_slots(&self.core.db, slots).await?)
    }

    async fn heartbeat(&self, room: RoomId, user: UserId) -> anyhow::Result<()> {
        match Broker::heartbeat(self, room, user).await {
            Ok(()) | Err(BrokerError::NotFound(_)) | Err(BrokerError::Conflict { .. }) => Ok(()),
            Err(e) => Err(anyhow::anyhow!("{e:?}")),
        }
    }

    async fn set_stage(&self, room: RoomId, user: Option<UserId>) -> anyhow::Result<()> {
        let row = store::room(&self.core.db, room).await?.ok_or_else(|| anyhow::anyhow!("unknown room {room}"))?;
        self.change_stage(&row, user).await.map_err(|e| anyhow::anyhow!("{e:?}"))
    }

    async fn leave_stage(&self, room: RoomId, user: UserId) -> anyhow::Result<()> {
        if presence::clear_stage_of(&self.core.redis, room, user).await? {
            if let Some(row) = store::room(&self.core.db, room).await? {
                self.stage_changed(&row).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
            }
        }
        Ok(())
    }

    async fn policy(
        &self,
        room: RoomId,
        user: Option<UserId>,
    ) -> anyhow::Result<Option<tandem_shared::moderation::RoomPolicy>> {
        Broker::policy(self, room, user).await.map_err(|e| anyhow::anyhow!("{e:?}"))
    }

    async fn banned_on_slot(&self, slot: SlotId, user: UserId) -> anyhow::Result<bool> {
        Broker::banned_on_slot(self, slot, user).await.map_err(|e| anyhow::anyhow!("{e:?}"))
    }

    async fn moderate(
        &self,
        request: tandem_shared::moderation::ModerationRequest,
    ) -> Result<(), tandem_shared::moderation::ModerationRefusal> {
        use tandem_shared::moderation::ModerationRefusal as R;
        match Broker::moderate(self, &request).await {
            Ok(()) => Ok(()),
            Err(BrokerError::Validation(m)) => Err(R::Refused { code: "invalid_value", message: m }),
            Err(BrokerError::Forbidden(m)) => Err(R::Refused { code: "forbidden", message: m.into() }),
            Err(e @ BrokerError::NotFound(_)) => Err(R::Refused { code: "not_found", message: e.to_string() }),
            Err(BrokerError::Conflict { code, message }) => Err(R::Refused { code, message: message.into() }),
            Err(e) => Err(R::Unavailable(anyhow::anyhow!("{e:?}"))),
        }
    }

    async fn live_slots(&self, slots: &[SlotId]) -> anyhow::Result<Vec<tandem_shared::hooks::LiveSlot>> {
        Ok(store::live_slots(&self.core.db, slots)
            .await?
            .into_iter()
            .map(|(slot_id, generation)| tandem_shared::hooks::LiveSlot {
                slot_id,
                generation: u32::try_from(generation).unwrap_or(0),
            })
            .collect())
    }
}

/// [`tandem_shared::audit::AuditLog`]: the broker keeps the audit log.
#[async_trait::async_trait]
impl tandem_shared::audit::AuditLog for Broker {
    async fn record(&self, entry: tandem_shared::audit::AuditEntry) -> anyhow::Result<()> {
        crate::safety::store::append_audit(&self.core.db, &entry).await?;
        Ok(())
    }
}
