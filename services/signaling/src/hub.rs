//! The node-local registry of sockets, the rooms they are in, and fan-out of bus messages to
//! them.
//!
//! One [`Hub`] per node, shared by every actix worker. Its state sits behind one std `Mutex`,
//! held only for map updates and non-blocking queue pushes, never across an `.await`. Each
//! socket owns a bounded queue in its [`ConnShared`]; a socket whose queue is full is cut off as
//! a slow consumer rather than slowing the room.

use serde::Deserialize;
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tandem_shared::audience::ViewSpan;
use tandem_shared::events::{SESSIONS_REVOKED_TYPE, TOKEN_REVOKED_TYPE};
use tandem_shared::ids::{ConnectionId, RoomId, UserId};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::protocol::MemberRole;
use crate::roomlog::ResumeRecord;
use crate::rooms::{RoomInfo, RoomKind};

/// A Redis channel this node may be subscribed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// Events for the members of a room.
    Room(RoomId),
    /// Events for every socket of a user.
    User(UserId),
}

/// What a socket's task receives from the hub.
#[derive(Debug)]
pub enum Out {
    /// An event to forward (`room` set for room events, `room_seq` for backlogged ones).
    Event {
        /// The event JSON, shared by every recipient.
        json: Arc<str>,
        /// The room it belongs to.
        room: Option<RoomId>,
        /// Its place in the room's sequence.
        room_seq: Option<u64>,
    },
    /// The room ended: forward, then the socket is no longer in it.
    RoomEnded {
        /// The event JSON.
        json: Arc<str>,
        /// The room.
        room: RoomId,
    },
    /// Time to ping the client.
    Ping,
}

/// Why the hub wants a socket closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum CloseWhy {
    /// Not asked to close.
    None = 0,
    /// Its outbound queue overflowed.
    Slow = 1,
    /// Nothing heard from the client for the idle timeout.
    Idle = 2,
    /// The node is shutting down.
    Draining = 3,
    /// The client resumed on another socket.
    TakenOver = 4,
    /// The access token expired.
    TokenExpired = 5,
    /// The access token was revoked (logout).
    TokenRevoked = 6,
}

/// What a socket's task and the hub share: the outbound queue, liveness and the close request.
///
/// The queue is a `VecDeque` behind a std `Mutex` rather than a channel: an idle socket's queue
/// holds no allocation at all (a tokio channel allocates a 32-slot block up front), which is
/// most of what an idle socket costs beyond the WebSocket itself.
#[derive(Debug)]
pub struct ConnShared {
    last_seen_ms: AtomicU64,
    why: AtomicU8,
    queue: Mutex<VecDeque<Out>>,
    /// Woken when something is queued.
    pub queued: Notify,
    /// Woken when the hub asks the socket to close.
    pub closing: Notify,
}

/// The queue was full.
struct Full;

/// Queue slots an emptied queue keeps.
const KEPT_QUEUE: usize = 4;

impl ConnShared {
    fn new(now_ms: u64) -> Self {
        Self {
            last_seen_ms: AtomicU64::new(now_ms),
            why: AtomicU8::new(0),
            queue: Mutex::new(VecDeque::new()),
            queued: Notify::new(),
            closing: Notify::new(),
        }
    }

    fn push(&self, out: Out, cap: usize) -> Result<(), Full> {
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        if q.len() >= cap {
            return Err(Full);
        }
        q.push_back(out);
        drop(q);
        self.queued.notify_one();
        Ok(())
    }

    /// The next queued item. A run-empty queue keeps a small allocation (a few events, so a
    /// delivery allocates nothing) and gives back anything larger a burst left.
    pub fn pop(&self) -> Option<Out> {
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        let out = q.pop_front();
        if q.is_empty() && q.capacity() > KEPT_QUEUE {
            *q = VecDeque::new();
        }
        out
    }

    /// Ask the socket to close (the first reason wins).
    pub fn close(&self, why: CloseWhy) {
        if self.why.compare_exchange(0, why as u8, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            self.closing.notify_one();
        }
    }

    /// Why the socket was asked to close.
    pub fn why(&self) -> CloseWhy {
        match self.why.load(Ordering::Acquire) {
            1 => CloseWhy::Slow,
            2 => CloseWhy::Idle,
            3 => CloseWhy::Draining,
            4 => CloseWhy::TakenOver,
            5 => CloseWhy::TokenExpired,
            6 => CloseWhy::TokenRevoked,
            _ => CloseWhy::None,
        }
    }
}

/// A socket's secret for resuming its place after a drop (128 random bits, hex on the wire).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ResumeToken([u8; 16]);

impl ResumeToken {
    /// A fresh random token.
    pub fn random() -> Self {
        Self(rand::random())
    }

    /// Parse 32 hex characters.
    pub fn parse(s: &str) -> Option<Self> {
        if s.len() != 32 || !s.is_ascii() {
            return None;
        }
        let mut out = [0u8; 16];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Self(out))
    }
}

impl fmt::Display for ResumeToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for ResumeToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResumeToken(..)")
    }
}

/// The access token a socket was opened with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenLease {
    /// Its id; a revocation of it closes the socket.
    pub jti: Uuid,
    /// Its expiry, Unix seconds; the socket is closed then.
    pub exp: i64,
    /// Its session (refresh-token family), if any; signing the session out closes the socket.
    pub family: Option<Uuid>,
}

struct ConnEntry {
    user: UserId,
    shared: Arc<ConnShared>,
    token: ResumeToken,
    lease: TokenLease,
    room: Option<(RoomId, MemberRole)>,
    /// When it joined its room as a broadcast viewer (Unix ms): the start of its view span.
    viewing_since: Option<i64>,
}

/// One room as this node sees it: its local members and viewer-count bookkeeping.
struct LocalRoom {
    info: Arc<RoomInfo>,
    members: HashSet<ConnectionId>,
    /// Local members with the viewer role.
    viewers: u64,
    /// Last count written to Redis and when.
    written: Option<(u64, Instant)>,
    /// Last total pushed to local members.
    pushed: Option<u64>,
}

/// A dropped socket's place, kept until the resume window passes.
#[derive(Debug, Clone)]
pub struct PendingLeave {
    /// When the window ends.
    pub due: Instant,
    /// The dropped socket's token.
    pub token: ResumeToken,
    /// Its room.
    pub room: Arc<RoomInfo>,
    /// Its user.
    pub user: UserId,
    /// Its role there.
    pub role: MemberRole,
}

#[derive(Default)]
struct State {
    conns: HashMap<ConnectionId, ConnEntry>,
    rooms: HashMap<RoomId, LocalRoom>,
    users: HashMap<UserId, Vec<ConnectionId>>,
    /// Broadcasts that lost their last local member: their node count must be zeroed.
    emptied: Vec<RoomId>,
    pending_leaves: VecDeque<PendingLeave>,
    /// Sockets by their token's expiry, soonest first.
    expiries: BTreeSet<(i64, ConnectionId)>,
    /// View spans and room counts not yet sent to the broker.
    audience: crate::audience::Pending,
}

/// The node's sockets and rooms.
pub struct Hub {
    state: Mutex<State>,
    epoch: Instant,
    queue_len: usize,
}

/// What a socket left behind when it unregistered.
pub struct Unregistered {
    /// The room it was in, and its role there.
    pub room: Option<(Arc<RoomInfo>, MemberRole)>,
}

/// What one bus message did.
#[derive(Debug, Default)]
pub struct Delivered {
    /// Sockets it was queued for.
    pub recipients: usize,
    /// The room it ended (its local members have left it).
    pub ended: Option<RoomId>,
    /// The room whose rules it changed (a mute, a removal, new settings): drop its cached policy.
    pub policy_changed: Option<RoomId>,
}

/// A broadcast's viewer numbers on this node.
#[derive(Debug, Clone, Copy)]
pub struct ViewerSnapshot {
    /// The room.
    pub room: RoomId,
    /// Local viewers.
    pub local: u64,
    /// Whether the local count must be written to Redis now.
    pub write: bool,
}

/// The fields of a bus message the hub routes on (the rest is forwarded untouched).
#[derive(Deserialize)]
struct Peek {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    room_seq: Option<u64>,
    #[serde(default)]
    to: Option<UserId>,
    #[serde(default)]
    resume_token: Option<String>,
    #[serde(default)]
    jti: Option<Uuid>,
    #[serde(default)]
    families: Vec<Uuid>,
    #[serde(default)]
    user_id: Option<UserId>,
}

/// Type of the node-to-node message asking the owner of a resume token to let go of it.
pub const TAKEOVER_TYPE: &str = "sig.takeover";
/// How often a node rewrites a broadcast's unchanged viewer count (the key lives 60 s).
const VIEWERS_REFRESH: Duration = Duration::from_secs(10);

impl Hub {
    /// An empty hub whose sockets queue at most `queue_len` items.
    pub fn new(queue_len: usize) -> Self {
        Self { state: Mutex::new(State::default()), epoch: Instant::now(), queue_len: queue_len.max(1) }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain maps behind; keep serving.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Milliseconds since the hub started (the clock of [`ConnShared`]).
    pub fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Mark the socket alive now.
    pub fn touch(&self, shared: &ConnShared) {
        shared.last_seen_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// Sockets on this node.
    pub fn len(&self) -> usize {
        self.lock().conns.len()
    }

    /// Whether no socket is connected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Add a socket opened with the access token `lease`; returns what it shares with the hub.
    pub fn register(&self, id: ConnectionId, user: UserId, token: ResumeToken, lease: TokenLease) -> Arc<ConnShared> {
        let shared = Arc::new(ConnShared::new(self.now_ms()));
        let mut st = self.lock();
        st.conns.insert(id, ConnEntry { user, shared: shared.clone(), token, lease, room: None, viewing_since: None });
        st.expiries.insert((lease.exp, id));
        st.users.entry(user).or_default().push(id);
        metrics::gauge!("signaling_connections").set(st.conns.len() as f64);
        shared
    }

    /// Replace a socket's access token with a fresh one; false when the socket is gone or already
    /// closing because its old token expired.
    pub fn renew(&self, id: ConnectionId, lease: TokenLease) -> bool {
        let mut st = self.lock();
        let Some(old) = st.conns.get(&id).map(|c| c.lease) else { return false };
        if !st.expiries.remove(&(old.exp, id)) {
            return false;
        }
        st.expiries.insert((lease.exp, id));
        if let Some(c) = st.conns.get_mut(&id) {
            c.lease = lease;
        }
        true
    }

    /// Remove a socket (and its room membership).
    pub fn unregister(&self, id: ConnectionId) -> Unregistered {
        let mut st = self.lock();
        let room = Self::leave_locked(&mut st, id);
        if let Some(entry) = st.conns.remove(&id) {
            st.expiries.remove(&(entry.lease.exp, id));
            if let Some(list) = st.users.get_mut(&entry.user) {
                list.retain(|c| *c != id);
                if list.is_empty() {
                    st.users.remove(&entry.user);
                }
            }
        }
        metrics::gauge!("signaling_connections").set(st.conns.len() as f64);
        Unregistered { room }
    }

    /// Put a socket in a room (it must not be in one).
    pub fn join(&self, id: ConnectionId, info: Arc<RoomInfo>, role: MemberRole) {
        let mut st = self.lock();
        let room_id = info.room_id;
        let Some(entry) = st.conns.get_mut(&id) else { return };
        entry.room = Some((room_id, role));
        let span = (role == MemberRole::Viewer && info.kind == RoomKind::Broadcast).then(|| {
            let at = chrono::Utc::now().timestamp_millis();
            entry.viewing_since = Some(at);
            ViewSpan { room_id, user_id: entry.user, conn: id, started_at: at, ended_at: None }
        });
        if let Some(span) = span {
            st.audience.span(span);
        }
        let room = st.rooms.entry(room_id).or_insert_with(|| LocalRoom {
            info,
            members: HashSet::new(),
            viewers: 0,
            written: None,
            pushed: None,
        });
        if room.members.insert(id) && role == MemberRole::Viewer {
            room.viewers += 1;
        }
    }

    /// Take a socket out of its room; returns the room and role it had.
    pub fn leave(&self, id: ConnectionId) -> Option<(Arc<RoomInfo>, MemberRole)> {
        Self::leave_locked(&mut self.lock(), id)
    }

    fn leave_locked(st: &mut State, id: ConnectionId) -> Option<(Arc<RoomInfo>, MemberRole)> {
        let entry = st.conns.get_mut(&id)?;
        let (room_id, role) = entry.room.take()?;
        if let Some(span) = Self::end_view(entry, room_id, id) {
            st.audience.span(span);
        }
        let room = st.rooms.get_mut(&room_id)?;
        if room.members.remove(&id) && role == MemberRole::Viewer {
            room.viewers = room.viewers.saturating_sub(1);
        }
        let info = room.info.clone();
        if room.members.is_empty() {
            let wrote = room.written.is_some_and(|(n, _)| n > 0);
            st.rooms.remove(&room_id);
            if wrote {
                st.emptied.push(room_id);
            }
        }
        Some((info, role))
    }

    /// The end of a socket's view span, if it was viewing.
    fn end_view(entry: &mut ConnEntry, room_id: RoomId, conn: ConnectionId) -> Option<ViewSpan> {
        let started_at = entry.viewing_since.take()?;
        let ended_at = chrono::Utc::now().timestamp_millis().max(started_at);
        Some(ViewSpan { room_id, user_id: entry.user, conn, started_at, ended_at: Some(ended_at) })
    }

    /// Count something that happened in `room` for its audience numbers.
    pub fn count(&self, room: RoomId, what: crate::audience::Counted) {
        self.lock().audience.count(room, what);
    }

    /// Take the view spans and counts gathered since the last call.
    pub fn take_audience(&self) -> crate::audience::Pending {
        std::mem::take(&mut self.lock().audience)
    }

    /// Put back what [`Hub::take_audience`] took when it could not be sent (kept up to a bound).
    pub fn restore_audience(&self, taken: crate::audience::Pending) {
        self.lock().audience.merge_older(taken);
    }

    /// Whether this node needs `topic`'s messages.
    pub fn wants(&self, topic: Topic) -> bool {
        let st = self.lock();
        match topic {
            Topic::Room(r) => st.rooms.contains_key(&r),
            Topic::User(u) => st.users.contains_key(&u),
        }
    }

    /// Every topic this node needs (to resubscribe after a reconnect).
    pub fn topics(&self) -> Vec<Topic> {
        let st = self.lock();
        st.rooms.keys().map(|r| Topic::Room(*r)).chain(st.users.keys().map(|u| Topic::User(*u))).collect()
    }

    /// Route one bus message to the local sockets it is for.
    pub fn deliver(&self, topic: Topic, payload: &[u8]) -> Delivered {
        let Ok(text) = std::str::from_utf8(payload) else { return Delivered::default() };
        let peek: Peek = match serde_json::from_str(text) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error.message = %e, ?topic, "dropping a bus message that is not an event");
                return Delivered::default();
            }
        };
        let mut st = self.lock();
        let mut delivered = Delivered::default();
        match topic {
            Topic::User(user) => {
                if peek.kind == TAKEOVER_TYPE {
                    let token = peek.resume_token.as_deref().and_then(ResumeToken::parse);
                    for id in st.users.get(&user).into_iter().flatten() {
                        if let Some(c) = st.conns.get(id).filter(|c| Some(c.token) == token) {
                            c.shared.close(CloseWhy::TakenOver);
                        }
                    }
                    return delivered;
                }
                if peek.kind == SESSIONS_REVOKED_TYPE {
                    for id in st.users.get(&user).into_iter().flatten() {
                        let of_revoked = |c: &&ConnEntry| c.lease.family.is_some_and(|f| peek.families.contains(&f));
                        if let Some(c) = st.conns.get(id).filter(of_revoked) {
                            c.shared.close(CloseWhy::TokenRevoked);
                        }
                    }
                    return delivered;
                }
                if peek.kind == TOKEN_REVOKED_TYPE {
                    for id in st.users.get(&user).into_iter().flatten() {
                        if let Some(c) = st.conns.get(id).filter(|c| peek.jti == Some(c.lease.jti)) {
                            c.shared.close(CloseWhy::TokenRevoked);
                        }
                    }
                    return delivered;
                }
                if peek.kind.starts_with("sig.") {
                    return delivered;
                }
                let json: Arc<str> = Arc::from(text);
                for id in st.users.get(&user).into_iter().flatten() {
                    if let Some(c) = st.conns.get(id) {
                        delivered.recipients +=
                            send(c, Out::Event { json: json.clone(), room: None, room_seq: None }, self.queue_len)
                                as usize;
                    }
                }
            }
            Topic::Room(room_id) => {
                let json: Arc<str> = Arc::from(text);
                if peek.kind == "room.ended" {
                    let Some(room) = st.rooms.remove(&room_id) else { return delivered };
                    let st = &mut *st;
                    for id in &room.members {
                        if let Some(c) = st.conns.get_mut(id) {
                            c.room = None;
                            if let Some(span) = Self::end_view(c, room_id, *id) {
                                st.audience.span(span);
                            }
                            delivered.recipients +=
                                send(c, Out::RoomEnded { json: json.clone(), room: room_id }, self.queue_len) as usize;
                        }
                    }
                    if room.written.is_some_and(|(n, _)| n > 0) {
                        st.emptied.push(room_id);
                    }
                    delivered.ended = Some(room_id);
                    return delivered;
                }
                if matches!(peek.kind.as_str(), "member.muted" | "room.policy" | "member.removed") {
                    delivered.policy_changed = Some(room_id);
                }
                if peek.kind == "member.removed" {
                    if let Some(user) = peek.user_id {
                        Self::remove_user_locked(&mut st, room_id, user, &json, self.queue_len);
                    }
                }
                let Some(room) = st.rooms.get(&room_id) else { return delivered };
                for id in &room.members {
                    let Some(c) = st.conns.get(id) else { continue };
                    if peek.to.is_some_and(|to| to != c.user) {
                        continue;
                    }
                    let out = Out::Event { json: json.clone(), room: Some(room_id), room_seq: peek.room_seq };
                    delivered.recipients += send(c, out, self.queue_len) as usize;
                }
            }
        }
        delivered
    }

    /// Take every local socket of `user` out of `room` (kicked or banned): each is told with
    /// `json` and is no longer a member afterwards, like a `room.ended` for that user alone.
    fn remove_user_locked(st: &mut State, room_id: RoomId, user: UserId, json: &Arc<str>, cap: usize) {
        let conns: Vec<ConnectionId> = st.users.get(&user).cloned().unwrap_or_default();
        for id in conns {
            let here = st.conns.get(&id).is_some_and(|c| c.room.map(|r| r.0) == Some(room_id));
            if !here {
                continue;
            }
            Self::leave_locked(st, id);
            if let Some(c) = st.conns.get(&id) {
                send(c, Out::RoomEnded { json: json.clone(), room: room_id }, cap);
            }
        }
    }

    /// Queue `json` for every local member of `room` (events that skip the bus, like `viewers`).
    pub fn deliver_local(&self, room: RoomId, json: &str) {
        let st = self.lock();
        let Some(r) = st.rooms.get(&room) else { return };
        let json: Arc<str> = Arc::from(json);
        for id in &r.members {
            if let Some(c) = st.conns.get(id) {
                send(c, Out::Event { json: json.clone(), room: Some(room), room_seq: None }, self.queue_len);
            }
        }
    }

    /// Ping every socket; ask those silent past `idle` to close.
    pub fn sweep(&self, idle: Duration) {
        let now = self.now_ms();
        let idle_ms = idle.as_millis() as u64;
        let st = self.lock();
        for c in st.conns.values() {
            if now.saturating_sub(c.shared.last_seen_ms.load(Ordering::Relaxed)) > idle_ms {
                c.shared.close(CloseWhy::Idle);
            } else {
                send(c, Out::Ping, self.queue_len);
            }
        }
    }

    /// Ask the sockets whose access token expired by `now` (Unix seconds) to close; returns how
    /// many.
    pub fn close_expired(&self, now: i64) -> usize {
        let mut st = self.lock();
        let mut closed = 0;
        while let Some(&(exp, id)) = st.expiries.first() {
            if exp > now {
                break;
            }
            st.expiries.pop_first();
            if let Some(c) = st.conns.get(&id) {
                c.shared.close(CloseWhy::TokenExpired);
                closed += 1;
            }
        }
        closed
    }

    /// Ask every socket to reconnect elsewhere.
    pub fn drain(&self) {
        for c in self.lock().conns.values() {
            c.shared.close(CloseWhy::Draining);
        }
    }

    /// Viewer counts of local broadcasts, marking which must be written now; plus the rooms
    /// whose count must be zeroed.
    pub fn viewer_snapshot(&self) -> (Vec<ViewerSnapshot>, Vec<RoomId>) {
        let mut st = self.lock();
        let now = Instant::now();
        let mut out = Vec::new();
        for (id, r) in st.rooms.iter_mut() {
            if r.info.kind != RoomKind::Broadcast {
                continue;
            }
            let write = match r.written {
                Some((n, at)) => n != r.viewers || now.duration_since(at) >= VIEWERS_REFRESH,
                None => true,
            };
            if write {
                r.written = Some((r.viewers, now));
            }
            out.push(ViewerSnapshot { room: *id, local: r.viewers, write });
        }
        (out, std::mem::take(&mut st.emptied))
    }

    /// Broadcasts with members on this node.
    pub fn local_broadcasts(&self) -> Vec<RoomId> {
        let st = self.lock();
        st.rooms.iter().filter(|(_, r)| r.info.kind == RoomKind::Broadcast).map(|(id, _)| *id).collect()
    }

    /// Record `total` as the room's count; true when it changed since the last push.
    pub fn viewers_changed(&self, room: RoomId, total: u64) -> bool {
        let mut st = self.lock();
        let Some(r) = st.rooms.get_mut(&room) else { return false };
        let changed = r.pushed != Some(total);
        r.pushed = Some(total);
        changed
    }

    /// Keep a dropped socket's place until `leave.due`.
    pub fn schedule_leave(&self, leave: PendingLeave) {
        self.lock().pending_leaves.push_back(leave);
    }

    /// Places whose resume window has passed.
    pub fn due_leaves(&self, now: Instant) -> Vec<PendingLeave> {
        let mut st = self.lock();
        let mut due = Vec::new();
        while st.pending_leaves.front().is_some_and(|l| l.due <= now) {
            if let Some(l) = st.pending_leaves.pop_front() {
                due.push(l);
            }
        }
        due
    }

    /// Every local socket's place (to rewrite them in Redis after a loss).
    pub fn places(&self) -> Vec<(ResumeToken, ResumeRecord)> {
        let st = self.lock();
        st.conns
            .iter()
            .map(|(id, c)| {
                let record = ResumeRecord {
                    user_id: c.user,
                    room_id: c.room.map(|r| r.0),
                    role: c.room.map(|r| r.1),
                    conn: Some(*id),
                };
                (c.token, record)
            })
            .collect()
    }

    /// Whether another local socket of `user` is in `room` (then nobody left it).
    pub fn user_in_room(&self, user: UserId, room: RoomId) -> bool {
        let st = self.lock();
        st.users
            .get(&user)
            .into_iter()
            .flatten()
            .any(|id| st.conns.get(id).is_some_and(|c| c.room.map(|r| r.0) == Some(room)))
    }
}

/// Queue `out` for a socket; cut it off if its queue is full. Returns whether it was queued.
fn send(c: &ConnEntry, out: Out, cap: usize) -> bool {
    match c.shared.push(out, cap) {
        Ok(()) => true,
        Err(Full) => {
            if c.shared.why() == CloseWhy::None {
                metrics::counter!("signaling_slow_consumers_total").increment(1);
            }
            c.shared.close(CloseWhy::Slow);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broadcast() -> Arc<RoomInfo> {
        Arc::new(RoomInfo {
            room_id: RoomId::new(),
            kind: RoomKind::Broadcast,
            live: true,
            host_id: UserId::new(),
            guest_id: None,
        })
    }

    fn lease() -> TokenLease {
        TokenLease { jti: Uuid::new_v4(), exp: i64::MAX, family: None }
    }

    #[test]
    fn expired_and_revoked_tokens_close_only_their_sockets() {
        let hub = Hub::new(4);
        let user = UserId::new();
        let (soon, later, other) = (ConnectionId::new(), ConnectionId::new(), ConnectionId::new());
        let lease_soon = TokenLease { jti: Uuid::new_v4(), exp: 100, family: None };
        let lease_later = TokenLease { jti: Uuid::new_v4(), exp: 200, family: None };
        let s = hub.register(soon, user, ResumeToken::random(), lease_soon);
        let l = hub.register(later, user, ResumeToken::random(), lease_later);
        let o = hub.register(other, UserId::new(), ResumeToken::random(), lease_later);
        assert_eq!(hub.close_expired(99), 0);
        assert_eq!(hub.close_expired(100), 1);
        assert_eq!((s.why(), l.why()), (CloseWhy::TokenExpired, CloseWhy::None));
        let revoked = format!(r#"{{"type":"{TOKEN_REVOKED_TYPE}","jti":"{}"}}"#, lease_later.jti);
        assert_eq!(hub.deliver(Topic::User(user), revoked.as_bytes()).recipients, 0);
        assert_eq!(l.why(), CloseWhy::TokenRevoked);
        // Another user's socket with the same jti on the wire is not touched (the channel is the user's).
        assert_eq!(o.why(), CloseWhy::None);
        assert!(l.pop().is_none(), "the control message is not forwarded");
        hub.unregister(later);
        hub.unregister(other);
        assert_eq!(hub.close_expired(i64::MAX - 1), 0);
    }

    #[test]
    fn a_revoked_session_closes_only_its_sockets_also_after_renewal() {
        let hub = Hub::new(4);
        let user = UserId::new();
        let (fam_a, fam_b) = (Uuid::new_v4(), Uuid::new_v4());
        let (a, a2, b, none) = (ConnectionId::new(), ConnectionId::new(), ConnectionId::new(), ConnectionId::new());
        let lease = |family| TokenLease { jti: Uuid::new_v4(), exp: i64::MAX, family };
        let sa = hub.register(a, user, ResumeToken::random(), lease(None));
        // Opened without a family, renewed in-band with a token of session A.
        assert!(hub.renew(a, lease(Some(fam_a))));
        let sa2 = hub.register(a2, user, ResumeToken::random(), lease(Some(fam_a)));
        let sb = hub.register(b, user, ResumeToken::random(), lease(Some(fam_b)));
        let sn = hub.register(none, user, ResumeToken::random(), lease(None));
        let msg = format!(r#"{{"type":"{SESSIONS_REVOKED_TYPE}","families":["{fam_a}"]}}"#);
        assert_eq!(hub.deliver(Topic::User(user), msg.as_bytes()).recipients, 0);
        assert_eq!((sa.why(), sa2.why()), (CloseWhy::TokenRevoked, CloseWhy::TokenRevoked));
        assert_eq!((sb.why(), sn.why()), (CloseWhy::None, CloseWhy::None));
        assert!(sb.pop().is_none(), "the control message is not forwarded");
    }

    #[test]
    fn resume_tokens_round_trip_through_hex() {
        let t = ResumeToken::random();
        assert!(ResumeToken::parse(&t.to_string()) == Some(t));
        assert!(ResumeToken::parse("zz").is_none());
        assert!(ResumeToken::parse(&"é".repeat(16)).is_none());
    }

    #[test]
    fn room_events_reach_members_once_and_directed_events_only_their_target() {
        let hub = Hub::new(4);
        let room = broadcast();
        let (a, b) = (UserId::new(), UserId::new());
        let (ca, cb) = (ConnectionId::new(), ConnectionId::new());
        let rx_a = hub.register(ca, a, ResumeToken::random(), lease());
        let rx_b = hub.register(cb, b, ResumeToken::random(), lease());
        hub.join(ca, room.clone(), MemberRole::Viewer);
        hub.join(cb, room.clone(), MemberRole::Viewer);
        let topic = Topic::Room(room.room_id);
        assert_eq!(hub.deliver(topic, br#"{"room_seq":1,"type":"chat"}"#).recipients, 2);
        let directed = format!(r#"{{"room_seq":2,"type":"stage.invite","to":"{b}"}}"#);
        assert_eq!(hub.deliver(topic, directed.as_bytes()).recipients, 1);
        assert!(matches!(rx_a.pop(), Some(Out::Event { room_seq: Some(1), .. })));
        assert!(rx_a.pop().is_none());
        assert!(matches!(rx_b.pop(), Some(Out::Event { room_seq: Some(1), .. })));
        assert!(matches!(rx_b.pop(), Some(Out::Event { room_seq: Some(2), .. })));
    }

    #[test]
    fn a_full_queue_marks_the_socket_slow_without_blocking() {
        let hub = Hub::new(1);
        let room = broadcast();
        let c = ConnectionId::new();
        let shared = hub.register(c, UserId::new(), ResumeToken::random(), lease());
        hub.join(c, room.clone(), MemberRole::Viewer);
        let topic = Topic::Room(room.room_id);
        assert_eq!(hub.deliver(topic, br#"{"type":"chat"}"#).recipients, 1);
        assert_eq!(hub.deliver(topic, br#"{"type":"chat"}"#).recipients, 0);
        assert_eq!(shared.why(), CloseWhy::Slow);
    }

    #[test]
    fn room_ended_empties_the_room_and_unwants_its_topic() {
        let hub = Hub::new(4);
        let room = broadcast();
        let c = ConnectionId::new();
        let rx = hub.register(c, UserId::new(), ResumeToken::random(), lease());
        hub.join(c, room.clone(), MemberRole::Viewer);
        let topic = Topic::Room(room.room_id);
        assert!(hub.wants(topic));
        let d = hub.deliver(topic, br#"{"type":"room.ended","reason":"host_ended"}"#);
        assert_eq!(d.ended, Some(room.room_id));
        assert!(!hub.wants(topic));
        assert!(matches!(rx.pop(), Some(Out::RoomEnded { .. })));
        assert!(hub.leave(c).is_none());
    }

    #[test]
    fn garbage_on_the_bus_is_dropped() {
        let hub = Hub::new(4);
        assert_eq!(hub.deliver(Topic::User(UserId::new()), b"\xff\xfe").recipients, 0);
        assert_eq!(hub.deliver(Topic::User(UserId::new()), b"[]").recipients, 0);
    }
}
