//! The forwarding core: which slot has a publisher, which feeds (one per track kind) it
//! offers, who subscribes, and how a packet is rewritten for one subscriber.
//!
//! Nothing here touches a socket or a peer connection: the WebRTC layer ([`crate::session`])
//! claims slots, pushes packets into [`Feed`]s and pulls them out per subscriber; this module
//! keeps the rules (one publisher per slot, of the newest generation; subscribers end with
//! their publisher; play sessions capped per token, per user and per slot) and the counters,
//! so it can be unit-tested in memory.

use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::RTCRtpCodec;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tandem_shared::ids::{SlotId, UserId};
use tokio::sync::{broadcast, watch, Notify};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How many packets a feed buffers for a slow subscriber before it skips ahead.
pub const FEED_BUFFER: usize = 512;

/// Audio or video: a slot carries at most one track of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TrackKind {
    /// An Opus track.
    Audio,
    /// A VP8 or H.264 track.
    Video,
}

impl TrackKind {
    /// `audio` or `video`.
    pub fn as_str(&self) -> &'static str {
        match self {
            TrackKind::Audio => "audio",
            TrackKind::Video => "video",
        }
    }
}

/// Identifies one WHIP or WHEP session (the last segment of its `Location`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct SessionId(pub Uuid);

impl SessionId {
    /// A new random session id.
    pub fn new() -> Self {
        Self(Uuid::new_v4())
    }
}

impl Default for SessionId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Whether a session publishes its slot or plays it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionRole {
    /// WHIP: sends media into the slot.
    Publisher,
    /// WHEP: receives the slot's media.
    Subscriber,
}

/// Identifies one media token (a digest of it), for per-token caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenId(pub [u8; 16]);

/// Who holds a session, as its media token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder {
    /// The user the token was issued to.
    pub user: UserId,
    /// The token.
    pub token: TokenId,
    /// The slot's publish generation the token carries.
    pub generation: u32,
    /// A private room's token: one play session per token and per user on the slot.
    pub exclusive: bool,
}

/// Caps on play (WHEP) sessions on one relay node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlayLimits {
    /// Sessions one token may hold.
    pub per_token: usize,
    /// Sessions one user may hold, over every slot.
    pub per_user: usize,
    /// Sessions one slot may feed.
    pub per_slot: usize,
}

impl Default for PlayLimits {
    fn default() -> Self {
        Self { per_token: 3, per_user: 8, per_slot: 500 }
    }
}

/// Which cap refused a play session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionCap {
    /// [`PlayLimits::per_token`], or one per token for a private room.
    Token,
    /// [`PlayLimits::per_user`], or one per user on a private room's slot.
    User,
    /// [`PlayLimits::per_slot`].
    Slot,
}

impl SessionCap {
    /// `token`, `user` or `slot`.
    pub fn as_str(&self) -> &'static str {
        match self {
            SessionCap::Token => "token",
            SessionCap::User => "user",
            SessionCap::Slot => "slot",
        }
    }
}

/// How long a generation raised by the broker is remembered for a slot this node does not
/// (yet) serve: longer than any session takes to set up.
const FLOOR_TTL: Duration = Duration::from_secs(120);

/// Why the core refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ForwardError {
    /// The slot already has a publisher.
    #[error("the slot already has a publisher")]
    SlotBusy,
    /// The publisher's token is of an older generation than the slot's (the stage changed).
    #[error("the token's generation was revoked")]
    Revoked,
    /// A play-session cap is reached.
    #[error("too many play sessions for this {}", .0.as_str())]
    TooManySessions(SessionCap),
    /// Nobody publishes the slot.
    #[error("nobody is publishing this slot")]
    NotPublishing,
    /// The session does not exist (any more).
    #[error("no such session")]
    UnknownSession,
}

/// Byte and packet counters.
#[derive(Debug, Default)]
pub struct Counters {
    /// Packets received from publishers.
    pub packets_in: AtomicU64,
    /// Payload-and-header bytes received from publishers.
    pub bytes_in: AtomicU64,
    /// Packets handed to subscribers.
    pub packets_out: AtomicU64,
    /// Bytes handed to subscribers.
    pub bytes_out: AtomicU64,
}

impl Counters {
    fn add_in(&self, bytes: u64) {
        self.packets_in.fetch_add(1, Ordering::Relaxed);
        self.bytes_in.fetch_add(bytes, Ordering::Relaxed);
    }
    fn add_out(&self, bytes: u64) {
        self.packets_out.fetch_add(1, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes, Ordering::Relaxed);
    }
    fn snapshot(&self) -> CounterSnapshot {
        CounterSnapshot {
            packets_in: self.packets_in.load(Ordering::Relaxed),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            packets_out: self.packets_out.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
        }
    }
}

/// A point-in-time copy of [`Counters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CounterSnapshot {
    /// Packets received from publishers.
    pub packets_in: u64,
    /// Bytes received from publishers.
    pub bytes_in: u64,
    /// Packets forwarded to subscribers.
    pub packets_out: u64,
    /// Bytes forwarded to subscribers.
    pub bytes_out: u64,
}

/// One published track: its codec, the packets fanned out to subscribers, and keyframe
/// requests flowing back to the publisher.
pub struct Feed {
    /// The codec the publisher sends (subscribers are offered the same).
    pub codec: RTCRtpCodec,
    /// Audio or video.
    pub kind: TrackKind,
    packets: broadcast::Sender<rtp::Packet>,
    keyframe: Notify,
    slot_counters: Arc<Counters>,
    total_counters: Arc<Counters>,
}

impl Feed {
    /// Fan a packet out to every subscriber of the feed.
    pub fn push(&self, packet: rtp::Packet) {
        let size = packet_size(&packet);
        self.slot_counters.add_in(size);
        self.total_counters.add_in(size);
        metrics::counter!("relay_packets_received_total").increment(1);
        metrics::counter!("relay_bytes_received_total").increment(size);
        // No receiver is fine: nobody watches yet.
        let _ = self.packets.send(packet);
    }

    /// A receiver of the feed's packets from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<rtp::Packet> {
        self.packets.subscribe()
    }

    /// Ask the publisher for a keyframe (a subscriber joined or lost packets).
    pub fn request_keyframe(&self) {
        self.keyframe.notify_one();
    }

    /// Resolves when a keyframe was requested since the last call.
    pub async fn keyframe_requested(&self) {
        self.keyframe.notified().await
    }

    /// Count a packet handed to one subscriber.
    pub fn record_forwarded(&self, bytes: u64) {
        self.slot_counters.add_out(bytes);
        self.total_counters.add_out(bytes);
        metrics::counter!("relay_packets_forwarded_total").increment(1);
        metrics::counter!("relay_bytes_forwarded_total").increment(bytes);
    }
}

/// Size of an RTP packet on the wire before SRTP (header, CSRCs, extensions, payload).
pub fn packet_size(packet: &rtp::Packet) -> u64 {
    (12 + 4 * packet.header.csrc.len() + packet.payload.len()) as u64
}

/// Rewrite a publisher's packet for one subscriber: its own SSRC and the payload type that
/// subscriber negotiated. Header extensions are dropped because their ids are negotiated per
/// connection and the publisher's ids mean nothing on the subscriber's leg; padding is
/// dropped because it only probes the publisher's own bandwidth.
pub fn rewrite_for_subscriber(mut packet: rtp::Packet, ssrc: u32, payload_type: u8) -> rtp::Packet {
    packet.header.ssrc = ssrc;
    packet.header.payload_type = payload_type;
    packet.header.extension = false;
    packet.header.extension_profile = 0;
    packet.header.extensions.clear();
    packet.header.padding = false;
    packet
}

/// What a publisher holds: its session, the token that ends it, and its feeds as they appear.
#[derive(Clone)]
pub struct PublisherLease {
    /// The WHIP session.
    pub session: SessionId,
    /// The slot published.
    pub slot: SlotId,
    /// Cancelled when the publish ends for any reason.
    pub cancel: CancellationToken,
}

/// What a subscriber holds.
#[derive(Clone)]
pub struct SubscriberLease {
    /// The WHEP session.
    pub session: SessionId,
    /// The slot played.
    pub slot: SlotId,
    /// Cancelled when the subscriber or its publisher goes away.
    pub cancel: CancellationToken,
}

type FeedMap = HashMap<TrackKind, Arc<Feed>>;

struct Publisher {
    session: SessionId,
    generation: u32,
    cancel: CancellationToken,
    /// How many tracks the publisher's offer announced.
    expected_tracks: usize,
    feeds: watch::Sender<FeedMap>,
}

struct Subscriber {
    cancel: CancellationToken,
    holder: Holder,
}

#[derive(Default)]
struct Slot {
    publisher: Option<Publisher>,
    subscribers: HashMap<SessionId, Subscriber>,
    counters: Arc<Counters>,
}

#[derive(Default)]
struct State {
    slots: HashMap<SlotId, Slot>,
    sessions: HashMap<SessionId, (SlotId, SessionRole)>,
    /// Play sessions per user and per token, over every slot.
    plays_per_user: HashMap<UserId, usize>,
    plays_per_token: HashMap<TokenId, usize>,
    /// The newest generation the broker announced per slot, and when.
    floors: HashMap<SlotId, (u32, Instant)>,
}

fn decrement<K: std::hash::Hash + Eq>(map: &mut HashMap<K, usize>, key: K) {
    if let Some(n) = map.get_mut(&key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            map.remove(&key);
        }
    }
}

impl State {
    fn floor(&self, slot: SlotId) -> u32 {
        self.floors.get(&slot).map(|(g, _)| *g).unwrap_or(0)
    }

    /// Forget a subscriber's place in the per-user and per-token counts.
    fn forget_play(&mut self, holder: &Holder) {
        decrement(&mut self.plays_per_user, holder.user);
        decrement(&mut self.plays_per_token, holder.token);
    }

    /// End a session (see [`Forwarder::end`]) with the lock held.
    fn end(&mut self, session: SessionId) -> Option<(SlotId, SessionRole)> {
        let (slot_id, role) = self.sessions.remove(&session)?;
        let mut ended = Vec::new();
        let mut remove_slot = false;
        if let Some(slot) = self.slots.get_mut(&slot_id) {
            match role {
                SessionRole::Publisher => {
                    if let Some(p) = slot.publisher.take_if(|p| p.session == session) {
                        p.cancel.cancel();
                        metrics::gauge!("relay_publishers").decrement(1.0);
                    }
                    for (sub, s) in slot.subscribers.drain() {
                        s.cancel.cancel();
                        ended.push((sub, s.holder));
                    }
                }
                SessionRole::Subscriber => {
                    if let Some(s) = slot.subscribers.remove(&session) {
                        s.cancel.cancel();
                        ended.push((session, s.holder));
                    }
                }
            }
            remove_slot = slot.publisher.is_none() && slot.subscribers.is_empty();
        }
        for (sub, holder) in &ended {
            self.sessions.remove(sub);
            self.forget_play(holder);
        }
        metrics::gauge!("relay_subscribers").decrement(ended.len() as f64);
        if remove_slot {
            self.slots.remove(&slot_id);
        }
        Some((slot_id, role))
    }
}

/// Per-slot figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SlotStats {
    /// The slot.
    pub slot_id: SlotId,
    /// Whether someone publishes it.
    pub publishing: bool,
    /// Published tracks.
    pub tracks: Vec<TrackKind>,
    /// Current subscribers.
    pub subscribers: usize,
    /// Counters since the slot was first used on this node.
    #[serde(flatten)]
    pub counters: CounterSnapshot,
}

/// Figures for the whole relay.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RelayStats {
    /// Slots with a publisher.
    pub publishers: usize,
    /// WHEP sessions.
    pub subscribers: usize,
    /// Totals since start.
    #[serde(flatten)]
    pub counters: CounterSnapshot,
    /// Per-slot figures, for slots in use.
    pub slots: Vec<SlotStats>,
}

/// The registry of publishers, feeds and subscribers of one relay node.
///
/// A std mutex guards the maps: every critical section is short and never awaits.
#[derive(Clone, Default)]
pub struct Forwarder {
    state: Arc<Mutex<State>>,
    totals: Arc<Counters>,
}

impl Forwarder {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // matters more than refusing all traffic would; keep serving.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Take the slot for a new publisher announcing `expected_tracks` tracks, holding a token
    /// of `generation`. A publisher of an older generation (someone taken off stage) is ended
    /// and replaced.
    ///
    /// # Errors
    /// [`ForwardError::Revoked`] when the slot's generation is newer than `generation`;
    /// [`ForwardError::SlotBusy`] when the slot has a publisher of the same or a newer one.
    pub fn claim_publisher(
        &self,
        slot: SlotId,
        expected_tracks: usize,
        generation: u32,
    ) -> Result<PublisherLease, ForwardError> {
        let mut state = self.lock();
        if generation < state.floor(slot) {
            return Err(ForwardError::Revoked);
        }
        let current = state.slots.get(&slot).and_then(|s| s.publisher.as_ref()).map(|p| (p.session, p.generation));
        match current {
            Some((_, held)) if held >= generation => return Err(ForwardError::SlotBusy),
            Some((old, _)) => {
                state.end(old);
            }
            None => {}
        }
        let entry = state.slots.entry(slot).or_default();
        let session = SessionId::new();
        let cancel = CancellationToken::new();
        let (feeds, _) = watch::channel(FeedMap::new());
        entry.publisher = Some(Publisher { session, generation, cancel: cancel.clone(), expected_tracks, feeds });
        state.sessions.insert(session, (slot, SessionRole::Publisher));
        metrics::gauge!("relay_publishers").increment(1.0);
        Ok(PublisherLease { session, slot, cancel })
    }

    /// Register a track the publisher started sending. A second track of the same kind
    /// replaces the first.
    ///
    /// # Errors
    /// [`ForwardError::UnknownSession`] when the lease is no longer the slot's publisher.
    pub fn add_feed(
        &self,
        lease: &PublisherLease,
        kind: TrackKind,
        codec: RTCRtpCodec,
    ) -> Result<Arc<Feed>, ForwardError> {
        let mut state = self.lock();
        let totals = self.totals.clone();
        let slot = state.slots.get_mut(&lease.slot).ok_or(ForwardError::UnknownSession)?;
        let counters = slot.counters.clone();
        let publisher =
            slot.publisher.as_mut().filter(|p| p.session == lease.session).ok_or(ForwardError::UnknownSession)?;
        let (packets, _) = broadcast::channel(FEED_BUFFER);
        let feed = Arc::new(Feed {
            codec,
            kind,
            packets,
            keyframe: Notify::new(),
            slot_counters: counters,
            total_counters: totals,
        });
        publisher.feeds.send_modify(|feeds| {
            feeds.insert(kind, feed.clone());
        });
        Ok(feed)
    }

    /// The slot's feeds once every announced track has appeared, or whatever appeared by
    /// the time `wait` resolves.
    ///
    /// # Errors
    /// [`ForwardError::NotPublishing`] when nobody publishes the slot, or the publisher sent
    /// no track before `wait` resolved.
    pub async fn feeds(
        &self,
        slot: SlotId,
        wait: impl std::future::Future<Output = ()>,
    ) -> Result<Vec<Arc<Feed>>, ForwardError> {
        let (mut rx, expected) = {
            let state = self.lock();
            let publisher =
                state.slots.get(&slot).and_then(|s| s.publisher.as_ref()).ok_or(ForwardError::NotPublishing)?;
            (publisher.feeds.subscribe(), publisher.expected_tracks.max(1))
        };
        tokio::pin!(wait);
        loop {
            if rx.borrow_and_update().len() >= expected {
                break;
            }
            tokio::select! {
                changed = rx.changed() => if changed.is_err() { return Err(ForwardError::NotPublishing) },
                _ = &mut wait => break,
            }
        }
        let mut feeds: Vec<Arc<Feed>> = rx.borrow().values().cloned().collect();
        if feeds.is_empty() {
            return Err(ForwardError::NotPublishing);
        }
        feeds.sort_by_key(|f| f.kind);
        Ok(feeds)
    }

    /// Add a subscriber for `holder` to a slot that has a publisher, within `limits`.
    ///
    /// # Errors
    /// [`ForwardError::NotPublishing`] when the slot has no publisher;
    /// [`ForwardError::TooManySessions`] when a cap is reached.
    pub fn add_subscriber(
        &self,
        slot: SlotId,
        holder: Holder,
        limits: PlayLimits,
    ) -> Result<SubscriberLease, ForwardError> {
        let mut state = self.lock();
        let (per_token, per_user) = if holder.exclusive { (1, 1) } else { (limits.per_token, limits.per_user) };
        let by_token = state.plays_per_token.get(&holder.token).copied().unwrap_or(0);
        let by_user = state.plays_per_user.get(&holder.user).copied().unwrap_or(0);
        let entry = state.slots.get_mut(&slot).ok_or(ForwardError::NotPublishing)?;
        let publisher = entry.publisher.as_ref().ok_or(ForwardError::NotPublishing)?;
        if entry.subscribers.len() >= limits.per_slot {
            return Err(ForwardError::TooManySessions(SessionCap::Slot));
        }
        if by_token >= per_token {
            return Err(ForwardError::TooManySessions(SessionCap::Token));
        }
        let user_here = entry.subscribers.values().filter(|s| s.holder.user == holder.user).count();
        if by_user >= limits.per_user || user_here >= per_user {
            return Err(ForwardError::TooManySessions(SessionCap::User));
        }
        // Ending the publisher ends its subscribers: a child token is cancelled with it.
        let cancel = publisher.cancel.child_token();
        let session = SessionId::new();
        entry.subscribers.insert(session, Subscriber { cancel: cancel.clone(), holder });
        state.sessions.insert(session, (slot, SessionRole::Subscriber));
        *state.plays_per_user.entry(holder.user).or_default() += 1;
        *state.plays_per_token.entry(holder.token).or_default() += 1;
        metrics::gauge!("relay_subscribers").increment(1.0);
        Ok(SubscriberLease { session, slot, cancel })
    }

    /// The slot and role of a live session.
    pub fn session(&self, session: SessionId) -> Option<(SlotId, SessionRole)> {
        self.lock().sessions.get(&session).copied()
    }

    /// End a session (idempotent): a publisher takes its subscribers with it. Returns the
    /// slot and role when this call ended it.
    pub fn end(&self, session: SessionId) -> Option<(SlotId, SessionRole)> {
        self.lock().end(session)
    }

    /// The broker says `slot`'s publish generation is now `generation`: end its publisher if
    /// older, and refuse older publish tokens from now on. Returns how many sessions ended.
    pub fn raise_generation(&self, slot: SlotId, generation: u32) -> usize {
        let mut state = self.lock();
        let now = Instant::now();
        if state.floors.len() > 10_000 {
            state.floors.retain(|_, (_, at)| now.duration_since(*at) < FLOOR_TTL);
        }
        let floor = state.floors.entry(slot).or_insert((generation, now));
        if generation >= floor.0 {
            *floor = (generation, now);
        }
        let stale = state
            .slots
            .get(&slot)
            .and_then(|s| s.publisher.as_ref())
            .filter(|p| p.generation < generation)
            .map(|p| p.session);
        let Some(stale) = stale else { return 0 };
        let players = state.slots.get(&slot).map(|s| s.subscribers.len()).unwrap_or(0);
        state.end(stale);
        1 + players
    }

    /// End every session of a slot (its publisher and players). Returns how many ended.
    pub fn end_slot(&self, slot: SlotId) -> usize {
        let sessions: Vec<SessionId> = {
            let state = self.lock();
            let Some(entry) = state.slots.get(&slot) else { return 0 };
            entry.publisher.iter().map(|p| p.session).chain(entry.subscribers.keys().copied()).collect()
        };
        // Ending the publisher already ends its players; ending them again is a no-op.
        for s in &sessions {
            self.end(*s);
        }
        sessions.len()
    }

    /// End `user`'s play sessions on `slot` (kicked or banned from its room; a publisher taken
    /// off stage is ended by the generation bump instead). Returns how many ended.
    pub fn end_user_plays(&self, slot: SlotId, user: UserId) -> usize {
        let sessions: Vec<SessionId> = {
            let state = self.lock();
            let Some(entry) = state.slots.get(&slot) else { return 0 };
            entry.subscribers.iter().filter(|(_, s)| s.holder.user == user).map(|(id, _)| *id).collect()
        };
        for s in &sessions {
            self.end(*s);
        }
        sessions.len()
    }

    /// End every session (shutdown).
    pub fn end_all(&self) {
        let sessions: Vec<SessionId> = self.lock().sessions.keys().copied().collect();
        for s in sessions {
            self.end(s);
        }
    }

    /// Whether the slot has a publisher.
    pub fn is_publishing(&self, slot: SlotId) -> bool {
        self.lock().slots.get(&slot).is_some_and(|s| s.publisher.is_some())
    }

    /// Figures for the relay and each slot in use.
    pub fn stats(&self) -> RelayStats {
        let state = self.lock();
        let mut slots: Vec<SlotStats> = state
            .slots
            .iter()
            .map(|(id, s)| {
                let mut tracks: Vec<TrackKind> =
                    s.publisher.as_ref().map(|p| p.feeds.borrow().keys().copied().collect()).unwrap_or_default();
                tracks.sort();
                SlotStats {
                    slot_id: *id,
                    publishing: s.publisher.is_some(),
                    tracks,
                    subscribers: s.subscribers.len(),
                    counters: s.counters.snapshot(),
                }
            })
            .collect();
        slots.sort_by_key(|s| s.slot_id);
        RelayStats {
            publishers: slots.iter().filter(|s| s.publishing).count(),
            subscribers: slots.iter().map(|s| s.subscribers).sum(),
            counters: self.totals.snapshot(),
            slots,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn vp8() -> RTCRtpCodec {
        RTCRtpCodec { mime_type: "video/VP8".into(), clock_rate: 90000, ..Default::default() }
    }

    fn holder() -> Holder {
        Holder { user: UserId::new(), token: TokenId(rand::random()), generation: 0, exclusive: false }
    }

    fn packet(seq: u16, payload: &'static [u8]) -> rtp::Packet {
        let mut p = rtp::Packet::default();
        p.header.version = 2;
        p.header.sequence_number = seq;
        p.header.ssrc = 1111;
        p.header.payload_type = 96;
        p.payload = Bytes::from_static(payload);
        p
    }

    #[test]
    fn one_publisher_per_slot() {
        let f = Forwarder::new();
        let slot = SlotId::new();
        let lease = f.claim_publisher(slot, 2, 0).expect("first publisher");
        assert_eq!(f.claim_publisher(slot, 2, 0).err(), Some(ForwardError::SlotBusy));
        assert!(f.claim_publisher(SlotId::new(), 1, 0).is_ok(), "another slot is free");
        assert_eq!(f.end(lease.session), Some((slot, SessionRole::Publisher)));
        assert!(lease.cancel.is_cancelled());
        assert!(f.claim_publisher(slot, 2, 0).is_ok(), "the slot is free again");
    }

    #[test]
    fn a_newer_generation_replaces_the_publisher_and_older_tokens_are_refused() {
        let f = Forwarder::new();
        let slot = SlotId::new();
        let first = f.claim_publisher(slot, 1, 0).expect("generation 0 publishes");
        let player = f.add_subscriber(slot, holder(), PlayLimits::default()).expect("player");
        // Without any announcement, the next staged user's newer token takes the slot over.
        let second = f.claim_publisher(slot, 1, 1).expect("generation 1 replaces generation 0");
        assert!(first.cancel.is_cancelled() && player.cancel.is_cancelled());
        assert_eq!(f.session(first.session), None);
        assert_eq!(f.claim_publisher(slot, 1, 1).err(), Some(ForwardError::SlotBusy), "same generation");
        assert_eq!(f.claim_publisher(slot, 1, 0).err(), Some(ForwardError::SlotBusy), "older generation");
        // The broker announces generation 2: the publisher of generation 1 ends, 1 is refused.
        assert_eq!(f.raise_generation(slot, 2), 1);
        assert!(second.cancel.is_cancelled() && !f.is_publishing(slot));
        assert_eq!(f.claim_publisher(slot, 1, 1).err(), Some(ForwardError::Revoked));
        assert_eq!(f.raise_generation(slot, 1), 0, "a late, older announcement changes nothing");
        assert!(f.claim_publisher(slot, 1, 2).is_ok());
        let other = SlotId::new();
        f.raise_generation(other, 4);
        assert_eq!(f.claim_publisher(other, 1, 3).err(), Some(ForwardError::Revoked), "remembered before use");
    }

    #[test]
    fn play_sessions_are_capped_per_token_user_and_slot() {
        let f = Forwarder::new();
        let limits = PlayLimits { per_token: 2, per_user: 3, per_slot: 5 };
        let (a, b) = (SlotId::new(), SlotId::new());
        f.claim_publisher(a, 1, 0).expect("a");
        f.claim_publisher(b, 1, 0).expect("b");
        let h = holder();
        let first = f.add_subscriber(a, h, limits).expect("1st");
        f.add_subscriber(a, h, limits).expect("2nd");
        assert_eq!(f.add_subscriber(a, h, limits).err(), Some(ForwardError::TooManySessions(SessionCap::Token)));
        // The same user with another token: counted per user over every slot.
        let h2 = Holder { token: TokenId(rand::random()), ..h };
        f.add_subscriber(b, h2, limits).expect("3rd of the user");
        let h3 = Holder { token: TokenId(rand::random()), ..h };
        assert_eq!(f.add_subscriber(b, h3, limits).err(), Some(ForwardError::TooManySessions(SessionCap::User)));
        // Ending a session frees its places.
        f.end(first.session);
        f.add_subscriber(b, h3, limits).expect("a place was freed");
        for _ in 0..4 {
            f.add_subscriber(a, holder(), limits).expect("other users");
        }
        assert_eq!(f.add_subscriber(a, holder(), limits).err(), Some(ForwardError::TooManySessions(SessionCap::Slot)));
    }

    #[test]
    fn a_private_play_token_holds_one_session_per_token_and_user() {
        let f = Forwarder::new();
        let slot = SlotId::new();
        f.claim_publisher(slot, 1, 0).expect("publisher");
        let fan = Holder { exclusive: true, ..holder() };
        let s = f.add_subscriber(slot, fan, PlayLimits::default()).expect("the fan plays");
        // Passed on, the token still names the fan: refused.
        let err = f.add_subscriber(slot, fan, PlayLimits::default()).err();
        assert_eq!(err, Some(ForwardError::TooManySessions(SessionCap::Token)));
        // A second token of the same fan for the same slot: refused too.
        let again = Holder { token: TokenId(rand::random()), ..fan };
        let err = f.add_subscriber(slot, again, PlayLimits::default()).err();
        assert_eq!(err, Some(ForwardError::TooManySessions(SessionCap::User)));
        f.end(s.session);
        assert!(f.add_subscriber(slot, fan, PlayLimits::default()).is_ok(), "free again once ended");
    }

    #[test]
    fn subscribing_needs_a_publisher() {
        let f = Forwarder::new();
        let slot = SlotId::new();
        assert_eq!(f.add_subscriber(slot, holder(), PlayLimits::default()).err(), Some(ForwardError::NotPublishing));
        f.claim_publisher(slot, 1, 0).expect("publisher");
        assert!(f.add_subscriber(slot, holder(), PlayLimits::default()).is_ok());
    }

    #[test]
    fn subscribers_end_with_their_publisher() {
        let f = Forwarder::new();
        let slot = SlotId::new();
        let lease = f.claim_publisher(slot, 1, 0).expect("publisher");
        let a = f.add_subscriber(slot, holder(), PlayLimits::default()).expect("a");
        let b = f.add_subscriber(slot, holder(), PlayLimits::default()).expect("b");
        assert_eq!(f.stats().subscribers, 2);
        assert_eq!(f.end(a.session), Some((slot, SessionRole::Subscriber)));
        assert!(a.cancel.is_cancelled());
        assert!(!b.cancel.is_cancelled());
        assert_eq!(f.end(a.session), None, "ending twice is a no-op");
        f.end(lease.session);
        assert!(b.cancel.is_cancelled());
        assert_eq!(f.session(b.session), None);
        let stats = f.stats();
        assert_eq!((stats.publishers, stats.subscribers, stats.slots.len()), (0, 0, 0));
    }

    #[test]
    fn ending_a_slot_ends_its_publisher_and_players_only() {
        let f = Forwarder::new();
        let (slot, other) = (SlotId::new(), SlotId::new());
        let lease = f.claim_publisher(slot, 1, 0).expect("publisher");
        let a = f.add_subscriber(slot, holder(), PlayLimits::default()).expect("a");
        let b = f.add_subscriber(slot, holder(), PlayLimits::default()).expect("b");
        let kept = f.claim_publisher(other, 1, 0).expect("other publisher");
        let kept_player = f.add_subscriber(other, holder(), PlayLimits::default()).expect("other player");
        assert_eq!(f.end_slot(slot), 3);
        assert!(lease.cancel.is_cancelled() && a.cancel.is_cancelled() && b.cancel.is_cancelled());
        assert_eq!(f.session(a.session), None);
        assert!(!f.is_publishing(slot));
        assert!(!kept.cancel.is_cancelled() && !kept_player.cancel.is_cancelled());
        let stats = f.stats();
        assert_eq!((stats.publishers, stats.subscribers), (1, 1));
        assert_eq!(f.end_slot(slot), 0, "nothing left to end");
        assert!(f.claim_publisher(slot, 1, 0).is_ok(), "the forwarder itself does not refuse the slot again");
    }

    #[test]
    fn an_old_lease_cannot_add_feeds_to_a_new_publisher() {
        let f = Forwarder::new();
        let slot = SlotId::new();
        let old = f.claim_publisher(slot, 1, 0).expect("publisher");
        f.end(old.session);
        let _new = f.claim_publisher(slot, 1, 0).expect("publisher");
        assert_eq!(f.add_feed(&old, TrackKind::Video, vp8()).err(), Some(ForwardError::UnknownSession));
    }

    #[tokio::test]
    async fn feeds_wait_for_every_announced_track() {
        let f = Forwarder::new();
        let slot = SlotId::new();
        let lease = f.claim_publisher(slot, 2, 0).expect("publisher");
        let f2 = f.clone();
        let waiter = tokio::spawn(async move { f2.feeds(slot, std::future::pending()).await });
        f.add_feed(&lease, TrackKind::Video, vp8()).expect("video");
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "still waiting for audio");
        let opus = RTCRtpCodec { mime_type: "audio/opus".into(), clock_rate: 48000, channels: 2, ..Default::default() };
        f.add_feed(&lease, TrackKind::Audio, opus).expect("audio");
        let feeds = waiter.await.expect("joins").expect("feeds");
        let kinds: Vec<TrackKind> = feeds.iter().map(|f| f.kind).collect();
        assert_eq!(kinds, vec![TrackKind::Audio, TrackKind::Video]);
    }

    #[tokio::test]
    async fn feeds_give_up_when_told_and_nothing_arrived() {
        let f = Forwarder::new();
        let slot = SlotId::new();
        assert_eq!(f.feeds(slot, async {}).await.err(), Some(ForwardError::NotPublishing));
        f.claim_publisher(slot, 1, 0).expect("publisher");
        assert_eq!(f.feeds(slot, async {}).await.err(), Some(ForwardError::NotPublishing));
    }

    #[tokio::test]
    async fn packets_fan_out_and_are_counted() {
        let f = Forwarder::new();
        let slot = SlotId::new();
        let lease = f.claim_publisher(slot, 1, 0).expect("publisher");
        let feed = f.add_feed(&lease, TrackKind::Video, vp8()).expect("video");
        let mut rx1 = feed.subscribe();
        let mut rx2 = feed.subscribe();
        feed.push(packet(1, b"abcd"));
        for rx in [&mut rx1, &mut rx2] {
            let p = rx.recv().await.expect("packet");
            assert_eq!(p.header.sequence_number, 1);
            feed.record_forwarded(packet_size(&p));
        }
        let stats = f.stats();
        assert_eq!(stats.counters.packets_in, 1);
        assert_eq!(stats.counters.bytes_in, 16);
        assert_eq!(stats.counters.packets_out, 2);
        assert_eq!(stats.counters.bytes_out, 32);
        assert_eq!(stats.slots[0].tracks, vec![TrackKind::Video]);
    }

    #[test]
    fn rewrite_sets_ssrc_and_payload_type_and_drops_extensions() {
        let mut p = packet(7, b"xyz");
        p.header.extension = true;
        p.header.extension_profile = 0xBEDE;
        p.header.extensions.push(rtp::header::Extension { id: 3, payload: Bytes::from_static(b"\x01\x02") });
        let out = rewrite_for_subscriber(p, 4242, 102);
        assert_eq!(out.header.ssrc, 4242);
        assert_eq!(out.header.payload_type, 102);
        assert!(!out.header.extension && out.header.extensions.is_empty());
        assert_eq!(out.header.sequence_number, 7);
        assert_eq!(&out.payload[..], b"xyz");
    }

    #[tokio::test]
    async fn keyframe_requests_reach_the_publisher_side() {
        let f = Forwarder::new();
        let lease = f.claim_publisher(SlotId::new(), 1, 0).expect("publisher");
        let feed = f.add_feed(&lease, TrackKind::Video, vp8()).expect("video");
        feed.request_keyframe();
        // A stored permit: resolves at once.
        feed.keyframe_requested().await;
    }
}
