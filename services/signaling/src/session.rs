//! One socket: the loop that reads client messages, forwards queued events and says goodbye.
//!
//! The task owns the actix-ws session and selects over three things: the client's frames, the
//! socket's bounded outbound queue (filled by the [`Hub`](crate::hub::Hub)) and the hub's close
//! request. Client messages are handled in order, one at a time; a malformed or refused message
//! gets an `error` reply and the socket stays open.

use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, ProtocolError};
use serde::Deserialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tandem_shared::auth::{AuthError, AuthUser};
use tandem_shared::events::user_channel;
use tandem_shared::ids::{ConnectionId, RoomId, UserId};

use crate::hub::{CloseWhy, ConnShared, Out, PendingLeave, ResumeToken, TokenLease, Topic, TAKEOVER_TYPE};
use crate::outbound::Outbound;
use crate::protocol::{
    decode, AccessToken, ClientMessage, ErrorCode, MemberRole, Refusal, Reply, ServerEvent, MAX_CANDIDATE_BYTES,
};
use crate::roomlog::ResumeRecord;
use crate::rooms::{RoomInfo, RoomKind};
use crate::Node;
use tandem_shared::moderation::ModAction;
use tandem_shared::rate_limit::Verdict;

/// How long a resuming socket waits for its old socket's node to hand the place over.
const TAKEOVER_WAIT: Duration = Duration::from_millis(1500);
/// Close code when the access token expires: reconnect (and resume) with a fresh token.
pub const CLOSE_TOKEN_EXPIRED: u16 = 4401;
/// Close code when the access token was revoked (logout): do not reconnect with it.
pub const CLOSE_TOKEN_REVOKED: u16 = 4403;
/// Bytes a socket may have queued and unsent before it counts as a slow consumer (the
/// outbound queue's limit covers events waiting to be encoded; this covers a client that stopped
/// reading what was encoded).
const MAX_BUFFERED: usize = 256 * 1024;

/// An authenticated socket, admitted under the per-user cap (see [`crate::sockets`]).
#[derive(Debug, Clone, Copy)]
pub struct Admission {
    /// The connection's id (its place in the user's socket set).
    pub id: ConnectionId,
    /// Who connected.
    pub user: UserId,
    /// The access token's id: a revocation of it closes the socket.
    pub jti: uuid::Uuid,
    /// The access token's expiry (Unix seconds): the socket is closed then.
    pub exp: i64,
    /// The access token's session (refresh-token family): signing it out closes the socket.
    pub family: Option<uuid::Uuid>,
    /// The account's email was verified when the token was issued (tips need it).
    pub email_verified: bool,
    /// The token was issued after a second factor (operators moderating others' rooms need it).
    pub second_factor: bool,
    /// The client address at connect (see [`tandem_shared::client_addr`]), for rate limits.
    pub addr: Option<std::net::IpAddr>,
}

/// A request to take over a dropped socket's place.
#[derive(Debug, Clone, Copy)]
pub struct Resume {
    /// The dropped socket's token.
    pub token: ResumeToken,
    /// The last `room_seq` the client saw.
    pub last_seq: u64,
}

struct Joined {
    info: Arc<RoomInfo>,
    role: MemberRole,
    /// Highest room sequence forwarded (or known at join); older room events are dropped.
    last_room_seq: u64,
}

/// Why the loop ended.
enum End {
    /// The client closed with this reason.
    ClientClosed(Option<CloseReason>),
    /// The stream ended or a write failed.
    Dropped,
    /// The client broke the WebSocket protocol.
    Protocol(ProtocolError),
    /// The pub/sub subscription for the user could not be made.
    Unavailable,
}

struct Conn {
    node: Arc<Node>,
    id: ConnectionId,
    user: UserId,
    addr: Option<std::net::IpAddr>,
    token: ResumeToken,
    shared: Arc<ConnShared>,
    out: Arc<Outbound>,
    seq: u64,
    joined: Option<Joined>,
    handle: Option<String>,
    /// When this socket last sent `ai.audio` (at most 10 a second).
    last_audio: Option<Instant>,
    /// The socket's access token says the account's email is verified.
    email_verified: bool,
    /// The socket's access token was issued after a second factor.
    second_factor: bool,
}

/// Whether members of the room are told when `role` comes and goes (not every viewer of a
/// broadcast: that would be quadratic; viewer counts cover them).
fn announced(kind: RoomKind, role: MemberRole) -> bool {
    kind == RoomKind::Private || role == MemberRole::Host
}

fn unavailable<E: std::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> Refusal {
    move |e| {
        tracing::error!(error.message = %e, "{what}");
        Refusal::new(ErrorCode::Unavailable, "temporarily unavailable, retry")
    }
}

/// Serve one upgraded socket until it closes.
#[tracing::instrument(name = "signaling socket", skip_all, fields(user_id = %admission.user))]
pub async fn run(
    node: Arc<Node>,
    admission: Admission,
    out: Arc<Outbound>,
    stream: actix_ws::MessageStream,
    resume: Option<Resume>,
) {
    let max = node.settings.max_frame_bytes;
    let mut stream = stream.max_frame_size(max).aggregate_continuations().max_continuation_size(max);
    let Admission { id, user, jti, exp, family, email_verified, second_factor, addr } = admission;
    let token = ResumeToken::random();
    let shared = node.hub.register(id, user, token, TokenLease { jti, exp, family });
    let mut conn = Conn {
        node,
        id,
        user,
        addr,
        token,
        shared,
        out,
        seq: 0,
        joined: None,
        handle: None,
        last_audio: None,
        email_verified,
        second_factor,
    };
    conn.save_place().await;
    let end = Box::pin(conn.serve(&mut stream, resume)).await;
    Box::pin(conn.finish(end)).await;
}

impl Conn {
    async fn serve(&mut self, stream: &mut AggregatedMessageStream, resume: Option<Resume>) -> End {
        if !self.node.bus.ensure(Topic::User(self.user)).await {
            return End::Unavailable;
        }
        let resumed = match resume {
            Some(r) => Box::pin(self.try_resume(r)).await,
            None => false,
        };
        let token = self.token.to_string();
        let welcome = ServerEvent::Welcome {
            connection_id: self.id,
            resume_token: &token,
            node_id: &self.node.settings.node_id,
            user_id: self.user,
            resumed,
            room_id: self.joined.as_ref().map(|j| j.info.room_id),
            idle_timeout_secs: self.node.settings.idle_timeout.as_secs(),
        }
        .to_json();
        if self.event(&welcome).await.is_err() {
            return End::Dropped;
        }
        if let (true, Some(r)) = (resumed, resume) {
            if Box::pin(self.replay(r.last_seq)).await.is_err() {
                return End::Dropped;
            }
        }
        loop {
            // Forward a bounded batch, then let the client's frames in (a push during the
            // batch leaves a wake-up, so the rest follows on the next turn).
            for _ in 0..self.node.settings.queue_len {
                let Some(out) = self.shared.pop() else { break };
                if self.shared.why() != CloseWhy::None || self.forward(out).await.is_err() {
                    return End::Dropped;
                }
            }
            if self.out.buffered() > MAX_BUFFERED {
                // The client stopped reading: cut it off like a full queue.
                self.shared.close(CloseWhy::Slow);
            }
            tokio::select! {
                // Queued events first: a wake-up for them then costs no poll of the inbound
                // stream.
                biased;
                _ = self.shared.closing.notified() => return End::Dropped,
                _ = self.shared.queued.notified() => {}
                msg = stream.recv() => {
                    let msg = match msg {
                        None => return End::Dropped,
                        Some(Err(e)) => return End::Protocol(e),
                        Some(Ok(m)) => m,
                    };
                    self.node.hub.touch(&self.shared);
                    let r = match msg {
                        // Boxed: the handlers' state is large and only lives while one runs,
                        // so an idle socket's task stays small.
                        AggregatedMessage::Text(text) => Box::pin(self.on_text(&text)).await,
                        AggregatedMessage::Binary(_) => {
                            let refusal = Refusal::new(ErrorCode::InvalidJson, "send JSON in text frames");
                            self.refuse(None, &refusal).await
                        }
                        AggregatedMessage::Ping(bytes) => self.out.pong(&bytes).map_err(|_| ()),
                        AggregatedMessage::Pong(_) => Ok(()),
                        AggregatedMessage::Close(reason) => return End::ClientClosed(reason),
                    };
                    if r.is_err() {
                        return End::Dropped;
                    }
                }
            }
        }
    }

    async fn write(&mut self, text: String) -> Result<(), ()> {
        self.out.text(&text).map_err(|_| ())
    }

    /// Send a server event with the next per-connection `seq`.
    async fn event(&mut self, json: &str) -> Result<(), ()> {
        self.send_event(json)
    }

    /// [`Self::event`] without the future (the forwarding loop).
    fn send_event(&mut self, json: &str) -> Result<(), ()> {
        self.seq += 1;
        self.out.event(self.seq, json).map_err(|_| ())
    }

    async fn forward(&mut self, out: Out) -> Result<(), ()> {
        match out {
            Out::Ping => self.out.ping(b"").map_err(|_| ()),
            Out::Event { json, room, room_seq } => {
                if let Some(room) = room {
                    let Some(j) = self.joined.as_mut().filter(|j| j.info.room_id == room) else {
                        return Ok(()); // queued before this socket left the room
                    };
                    if let Some(seq) = room_seq {
                        if seq <= j.last_room_seq {
                            return Ok(()); // already replayed or from before the join
                        }
                        j.last_room_seq = seq;
                    }
                }
                self.send_event(&json)
            }
            Out::RoomEnded { json, room } => {
                if self.joined.as_ref().is_some_and(|j| j.info.room_id == room) {
                    self.joined = None;
                    // A resume must not bring the socket back into the room.
                    self.save_place().await;
                }
                self.send_event(&json)
            }
        }
    }

    async fn on_text(&mut self, text: &str) -> Result<(), ()> {
        let msg = match decode(text) {
            Ok(m) => m,
            Err(e) => {
                metrics::counter!("signaling_rejected_messages_total", "code" => e.refusal.code.as_str()).increment(1);
                return self.refuse(e.request_id.as_ref(), &e.refusal).await;
            }
        };
        let request_id = msg.request_id().clone();
        if let Err(refusal) = self.check_rate(&msg).await {
            metrics::counter!("signaling_rejected_messages_total", "code" => refusal.code.as_str()).increment(1);
            return self.refuse(Some(&request_id), &refusal).await;
        }
        match self.handle(msg).await {
            Ok(data) => self.write(Reply::Ack { request_id: &request_id, data }.to_json()).await,
            Err(refusal) => {
                metrics::counter!("signaling_rejected_messages_total", "code" => refusal.code.as_str()).increment(1);
                self.refuse(Some(&request_id), &refusal).await
            }
        }
    }

    /// Count the message against its type's limits (per user and per address, on every node)
    /// before any of its work is done.
    async fn check_rate(&self, msg: &ClientMessage) -> Result<(), Refusal> {
        let class = msg.rate_class();
        match self.node.limiter.check(class, Some(self.user), self.addr).await {
            Verdict::Allowed => Ok(()),
            Verdict::Limited { retry_after } => Err(Refusal::new(
                ErrorCode::RateLimited,
                format!("too many {} messages; retry in {} s", msg.kind(), Verdict::retry_after_secs(retry_after)),
            )),
            Verdict::Unavailable => Err(Refusal::new(ErrorCode::Unavailable, "temporarily unavailable, retry")),
        }
    }

    async fn refuse(&mut self, request_id: Option<&crate::protocol::ClientRequestId>, r: &Refusal) -> Result<(), ()> {
        self.write(Reply::Error { request_id, code: r.code, message: &r.message }.to_json()).await
    }

    fn joined(&self) -> Result<&Joined, Refusal> {
        self.joined.as_ref().ok_or_else(|| Refusal::new(ErrorCode::NotInRoom, "join a room first"))
    }

    async fn publish(&self, room: RoomId, event: &ServerEvent<'_>) -> Result<(), Refusal> {
        self.node.log.publish(room, &event.to_json()).await.map_err(unavailable("failed to publish a room event"))?;
        Ok(())
    }

    async fn handle(&mut self, msg: ClientMessage) -> Result<Option<serde_json::Value>, Refusal> {
        match msg {
            ClientMessage::Join { room_id, .. } => self.join(room_id).await.map(Some),
            ClientMessage::Leave { .. } => {
                self.leave_room("left").await;
                Ok(None)
            }
            ClientMessage::Offer { to, sdp, .. } => {
                let room_id = self.check_peer(to)?;
                self.check_sdp(&sdp)?;
                self.publish(room_id, &ServerEvent::Offer { room_id, from: self.user, to, sdp: &sdp }).await?;
                Ok(None)
            }
            ClientMessage::Answer { to, sdp, .. } => {
                let room_id = self.check_peer(to)?;
                self.check_sdp(&sdp)?;
                self.publish(room_id, &ServerEvent::Answer { room_id, from: self.user, to, sdp: &sdp }).await?;
                Ok(None)
            }
            ClientMessage::Candidate { to, candidate, .. } => {
                let room_id = self.check_peer(to)?;
                let extra = candidate.sdp_mid.as_ref().map_or(0, String::len)
                    + candidate.username_fragment.as_ref().map_or(0, String::len);
                if candidate.candidate.len() + extra > MAX_CANDIDATE_BYTES {
                    return Err(Refusal::new(
                        ErrorCode::TooLarge,
                        format!("candidate over {MAX_CANDIDATE_BYTES} bytes"),
                    ));
                }
                let ev = ServerEvent::Candidate { room_id, from: self.user, to, candidate: &candidate };
                self.publish(room_id, &ev).await?;
                Ok(None)
            }
            ClientMessage::Chat { text, .. } => self.chat(&text).await.map(|_| None),
            ClientMessage::Tip { amount, request_id, idempotency_key } => {
                self.tip(amount, request_id.as_str(), idempotency_key.as_deref()).await.map(|_| None)
            }
            ClientMessage::StageInvite { user_id, .. } => {
                let room_id = self.host_of_broadcast()?;
                if user_id == self.user {
                    return Err(Refusal::new(ErrorCode::InvalidValue, "the host is already on stage"));
                }
                self.node
                    .log
                    .invite_to_stage(room_id, user_id)
                    .await
                    .map_err(unavailable("failed to record a stage invite"))?;
                self.publish(room_id, &ServerEvent::StageInvite { room_id, from: self.user, to: user_id }).await?;
                Ok(None)
            }
            ClientMessage::StageAccept { .. } => {
                let j = self.joined()?;
                let room_id = j.info.room_id;
                if j.info.kind != RoomKind::Broadcast {
                    return Err(Refusal::new(ErrorCode::Forbidden, "only broadcasts have a stage"));
                }
                let invited = self
                    .node
                    .log
                    .take_stage_invite(room_id, self.user)
                    .await
                    .map_err(unavailable("failed to read a stage invite"))?;
                if !invited {
                    return Err(Refusal::new(ErrorCode::NotInvited, "no pending stage invitation"));
                }
                // The broker hands this user the guest slot's publish endpoint.
                if let Some(rooms) = self.node.core.hooks.rooms() {
                    rooms.set_stage(room_id, Some(self.user)).await.map_err(unavailable("stage hook failed"))?;
                }
                self.publish(room_id, &ServerEvent::StageJoined { room_id, user_id: self.user }).await?;
                Ok(None)
            }
            ClientMessage::StageLeave { user_id, .. } => {
                let j = self.joined()?;
                let room_id = j.info.room_id;
                if j.info.kind != RoomKind::Broadcast {
                    return Err(Refusal::new(ErrorCode::Forbidden, "only broadcasts have a stage"));
                }
                let target = user_id.unwrap_or(self.user);
                if target != self.user && j.role != MemberRole::Host {
                    return Err(Refusal::new(ErrorCode::Forbidden, "only the host takes others off the stage"));
                }
                // The broker takes the guest slot back, unless someone else was put on stage since.
                if let Some(rooms) = self.node.core.hooks.rooms() {
                    rooms.leave_stage(room_id, target).await.map_err(unavailable("stage hook failed"))?;
                }
                self.publish(room_id, &ServerEvent::StageLeft { room_id, user_id: target }).await?;
                Ok(None)
            }
            ClientMessage::PromptPropose { text, .. } => {
                let (info, role) = self.member()?;
                crate::prompts::propose(&self.node, &self.as_member(&info, role), &text).await.map(Some)
            }
            ClientMessage::PromptVote { proposal_id, .. } => {
                let (info, role) = self.member()?;
                let voted = crate::prompts::vote(&self.node, &self.as_member(&info, role), proposal_id).await?;
                self.node.hub.count(info.room_id, crate::audience::Counted::Vote);
                Ok(Some(voted))
            }
            ClientMessage::PromptLock { locked, .. } => {
                let (info, role) = self.member()?;
                crate::prompts::lock(&self.node, &self.as_member(&info, role), locked).await.map(|_| None)
            }
            ClientMessage::PromptVeto { proposal_id, .. } => {
                let (info, role) = self.member()?;
                crate::prompts::veto(&self.node, &self.as_member(&info, role), proposal_id).await.map(|_| None)
            }
            ClientMessage::PromptApply { proposal_id, text, .. } => {
                let (info, role) = self.member()?;
                let m = self.as_member(&info, role);
                crate::prompts::apply(&self.node, &m, proposal_id, text.as_deref()).await.map(|_| None)
            }
            ClientMessage::AiAudio { level, beat, .. } => {
                let (info, role) = self.member()?;
                let m = self.as_member(&info, role);
                crate::prompts::audio(&self.node, &m, level, beat, &mut self.last_audio).await.map(|_| None)
            }
            ClientMessage::Auth { token, .. } => self.renew(&token).await.map(Some),
            ClientMessage::ModKick { user_id, reason, .. } => {
                self.moderate(ModAction::Kick, user_id, reason, None).await.map(|_| None)
            }
            ClientMessage::ModBan { user_id, reason, minutes, .. } => {
                self.moderate(ModAction::Ban, user_id, reason, minutes).await.map(|_| None)
            }
            ClientMessage::ModMute { user_id, reason, minutes, .. } => {
                self.moderate(ModAction::Mute, user_id, reason, minutes).await.map(|_| None)
            }
            ClientMessage::ModUnmute { user_id, reason, .. } => {
                self.moderate(ModAction::Unmute, user_id, reason, None).await.map(|_| None)
            }
            ClientMessage::Heartbeat { .. } => {
                let room = self.joined()?.info.room_id;
                match self.node.core.hooks.rooms() {
                    Some(rooms) => {
                        rooms.heartbeat(room, self.user).await.map_err(unavailable("heartbeat hook failed"))?
                    }
                    None => tandem_shared::live::record_heartbeat(&self.node.core.redis, room, self.user)
                        .await
                        .map_err(unavailable("failed to record a heartbeat"))?,
                }
                Ok(None)
            }
        }
    }

    /// Take a fresh access token of the same user: the socket now lives until its expiry, and
    /// a revocation of it closes the socket.
    async fn renew(&mut self, token: &AccessToken) -> Result<serde_json::Value, Refusal> {
        let user =
            AuthUser::from_token(&self.node.core.tokens, &self.node.core.redis, token.expose()).await.map_err(|e| {
                match e {
                    AuthError::Unavailable => Refusal::new(ErrorCode::Unavailable, "temporarily unavailable, retry"),
                    AuthError::Expired => Refusal::new(ErrorCode::TokenExpired, "the token has expired"),
                    _ => Refusal::new(ErrorCode::InvalidToken, "the token is not valid"),
                }
            })?;
        if user.user_id != self.user {
            return Err(Refusal::new(ErrorCode::InvalidToken, "the token is another user's"));
        }
        let exp = user.claims.exp;
        // The new token's session: signing that session out closes this socket too.
        let lease = TokenLease { jti: user.claims.jti, exp, family: user.claims.fam.map(|f| f.0) };
        if !self.node.hub.renew(self.id, lease) {
            return Err(Refusal::new(ErrorCode::TokenExpired, "this socket's token already expired; reconnect"));
        }
        self.email_verified = user.claims.email_verified;
        self.second_factor = user.claims.mfa;
        if let Err(e) = crate::sockets::extend(&self.node.core.redis, self.user, self.id, exp).await {
            // The cap entry lapses at the old expiry; the socket stays open.
            tracing::warn!(error.message = %e, "failed to extend a socket's place in the cap");
        }
        Ok(serde_json::json!({ "expires_at": exp }))
    }

    /// The joined room and the role in it.
    fn member(&self) -> Result<(Arc<RoomInfo>, MemberRole), Refusal> {
        let j = self.joined()?;
        Ok((j.info.clone(), j.role))
    }

    fn as_member<'a>(&self, info: &'a RoomInfo, role: MemberRole) -> crate::prompts::Member<'a> {
        crate::prompts::Member { user: self.user, room: info, role }
    }

    fn check_peer(&self, to: UserId) -> Result<RoomId, Refusal> {
        let j = self.joined()?;
        if !j.info.are_peers(self.user, to) {
            return Err(Refusal::new(
                ErrorCode::Forbidden,
                "offer, answer and candidate go only to the other participant of your private room",
            ));
        }
        Ok(j.info.room_id)
    }

    fn check_sdp(&self, sdp: &str) -> Result<(), Refusal> {
        let max = self.node.settings.max_sdp_bytes;
        if sdp.len() > max {
            return Err(Refusal::new(ErrorCode::TooLarge, format!("SDP over {max} bytes")));
        }
        if !sdp.starts_with("v=0") {
            return Err(Refusal::new(ErrorCode::InvalidValue, "SDP must start with v=0"));
        }
        Ok(())
    }

    fn host_of_broadcast(&self) -> Result<RoomId, Refusal> {
        let j = self.joined()?;
        if j.info.kind != RoomKind::Broadcast || j.role != MemberRole::Host {
            return Err(Refusal::new(ErrorCode::Forbidden, "only the host of a broadcast invites to the stage"));
        }
        Ok(j.info.room_id)
    }

    async fn join(&mut self, room_id: RoomId) -> Result<serde_json::Value, Refusal> {
        let reply = |info: &RoomInfo, role: MemberRole, seq: u64| {
            serde_json::json!({
                "room_id": info.room_id,
                "kind": if info.kind == RoomKind::Private { "private" } else { "broadcast" },
                "role": role,
                "room_seq": seq,
            })
        };
        if let Some(j) = self.joined.as_ref().filter(|j| j.info.room_id == room_id) {
            return Ok(reply(&j.info, j.role, j.last_room_seq));
        }
        let info = self
            .node
            .rooms
            .get(room_id)
            .await
            .map_err(unavailable("failed to look up a room"))?
            .ok_or_else(|| Refusal::new(ErrorCode::RoomNotFound, "no such room"))?;
        let role = info.admit(self.user)?;
        if role != MemberRole::Host {
            self.check_admission(room_id).await?;
        }
        self.leave_room("left").await;
        let seq = self.enter(info.clone(), role).await?;
        if announced(info.kind, role) {
            let ev = ServerEvent::MemberJoined { room_id, user_id: self.user, role };
            if let Err(e) = self.publish(room_id, &ev).await {
                self.leave_room("left").await;
                return Err(e);
            }
        }
        Ok(reply(&info, role, seq))
    }

    /// Refuse a join by a user the creator banned, or from a region the creator blocks (asked of
    /// the broker on every join, never from cache).
    async fn check_admission(&self, room_id: RoomId) -> Result<(), Refusal> {
        let policy = self
            .node
            .policies
            .for_join(room_id, self.user)
            .await
            .map_err(unavailable("failed to read a room's rules"))?
            .ok_or_else(|| Refusal::new(ErrorCode::RoomNotFound, "no such room"))?;
        if policy.banned {
            return Err(Refusal::new(ErrorCode::Banned, "you are banned from this creator's rooms"));
        }
        if !policy.blocked_regions.is_empty() && self.node.core.geo.place(self.addr).in_any(&policy.blocked_regions) {
            return Err(Refusal::new(ErrorCode::GeoBlocked, "this creator's rooms are not available in your region"));
        }
        Ok(())
    }

    /// Become a local member and subscribe; returns the room's sequence at that point.
    async fn enter(&mut self, info: Arc<RoomInfo>, role: MemberRole) -> Result<u64, Refusal> {
        let room_id = info.room_id;
        self.node.hub.join(self.id, info.clone(), role);
        let seq = if self.node.bus.ensure(Topic::Room(room_id)).await {
            self.node.log.current_seq(room_id).await.map_err(unavailable("failed to read a room sequence"))
        } else {
            Err(Refusal::new(ErrorCode::Unavailable, "temporarily unavailable, retry"))
        };
        match seq {
            Ok(seq) => {
                self.joined = Some(Joined { info, role, last_room_seq: seq });
                self.save_place().await;
                Ok(seq)
            }
            Err(e) => {
                self.node.hub.leave(self.id);
                self.node.bus.sync(Topic::Room(room_id));
                Err(e)
            }
        }
    }

    async fn leave_room(&mut self, reason: &str) {
        let Some(j) = self.joined.take() else { return };
        let room_id = j.info.room_id;
        self.save_place().await;
        self.node.hub.leave(self.id);
        self.node.bus.sync(Topic::Room(room_id));
        if announced(j.info.kind, j.role) && !self.node.hub.user_in_room(self.user, room_id) {
            let ev = ServerEvent::MemberLeft { room_id, user_id: self.user, role: j.role, reason };
            if let Err(e) = self.node.log.publish(room_id, &ev.to_json()).await {
                tracing::error!(error.message = %e, %room_id, "failed to announce a leave");
            }
        }
    }

    /// Record this socket's place in Redis (so another node can resume it if this one dies).
    async fn save_place(&self) {
        let record = ResumeRecord {
            user_id: self.user,
            room_id: self.joined.as_ref().map(|j| j.info.room_id),
            role: self.joined.as_ref().map(|j| j.role),
            conn: Some(self.id),
        };
        if let Err(e) = self.node.places.put(self.token, &record).await {
            tracing::warn!(error.message = %e, "failed to record a socket's place; rewriting later");
            self.node.places_dirty.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    async fn chat(&mut self, text: &str) -> Result<(), Refusal> {
        let room_id = self.joined()?.info.room_id;
        let text = text.trim();
        if text.is_empty() {
            return Err(Refusal::new(ErrorCode::InvalidValue, "empty chat message"));
        }
        let max = self.node.settings.chat_max_chars;
        if text.chars().count() > max {
            return Err(Refusal::new(ErrorCode::TooLarge, format!("chat messages are at most {max} characters")));
        }
        self.check_chat_rules(room_id, text).await?;
        if self.handle.is_none() {
            let users = self
                .node
                .core
                .hooks
                .users()
                .ok_or_else(|| Refusal::new(ErrorCode::Unavailable, "the user directory is not available"))?;
            let user = users.user(self.user).await.map_err(unavailable("failed to look up a handle"))?;
            self.handle = Some(user.map(|u| u.handle).unwrap_or_default());
        }
        let handle = self.handle.as_deref().unwrap_or_default();
        let at = chrono::Utc::now().timestamp_millis();
        let ev = ServerEvent::Chat { room_id, from: self.user, handle, text, at }.to_json();
        self.node.log.publish(room_id, &ev).await.map_err(unavailable("failed to publish chat"))?;
        self.node.hub.count(room_id, crate::audience::Counted::Chat);
        Ok(())
    }

    /// The room's rules for a chat line: not muted, no blocked word, and (slow mode) not
    /// sooner than the interval after this user's last line. The host is exempt.
    async fn check_chat_rules(&self, room_id: RoomId, text: &str) -> Result<(), Refusal> {
        let policy = match self.node.policies.get(room_id).await {
            Ok(Some(p)) => p,
            Ok(None) => return Err(Refusal::new(ErrorCode::RoomNotFound, "no such room")),
            Err(e) => return Err(unavailable("failed to read a room's rules")(e)),
        };
        if policy.host_id == self.user {
            return Ok(());
        }
        if policy.is_muted(self.user, chrono::Utc::now()) {
            return Err(Refusal::new(ErrorCode::Muted, "you are muted in this room"));
        }
        if tandem_shared::moderation::contains_blocked(text, &policy.blocked_words) {
            return Err(Refusal::new(ErrorCode::Blocked, "the message contains a word this creator blocks"));
        }
        if policy.slow_mode_secs > 0 {
            let allowed =
                crate::roomlog::slow_mode_slot(&self.node.core.redis, room_id, self.user, policy.slow_mode_secs)
                    .await
                    .map_err(unavailable("failed to check slow mode"))?;
            if !allowed {
                return Err(Refusal::new(
                    ErrorCode::SlowMode,
                    format!("slow mode: one message every {} s", policy.slow_mode_secs),
                ));
            }
        }
        Ok(())
    }

    /// `mod.*`: the broker checks the caller is the room's host or an operator, records it,
    /// and tells the room and the relays.
    async fn moderate(
        &self,
        action: tandem_shared::moderation::ModAction,
        target: UserId,
        reason: String,
        minutes: Option<u32>,
    ) -> Result<(), Refusal> {
        use tandem_shared::moderation::{ModerationRefusal, ModerationRequest};
        let room_id = self.joined()?.info.room_id;
        let rooms = self
            .node
            .core
            .hooks
            .rooms()
            .ok_or_else(|| Refusal::new(ErrorCode::Unavailable, "room control is not available"))?;
        let second_factor = self.second_factor;
        let request = ModerationRequest { room_id, actor: self.user, target, action, reason, minutes, second_factor };
        match rooms.moderate(request).await {
            Ok(()) => Ok(()),
            Err(ModerationRefusal::Refused { code, message }) => Err(Refusal::new(
                match code {
                    "forbidden" => ErrorCode::Forbidden,
                    "room_ended" => ErrorCode::RoomEnded,
                    "not_found" => ErrorCode::InvalidValue,
                    "unavailable" => ErrorCode::Unavailable,
                    _ => ErrorCode::InvalidValue,
                },
                message,
            )),
            Err(ModerationRefusal::Unavailable(e)) => Err(unavailable("moderation failed")(e)),
        }
    }

    async fn tip(&mut self, amount: i64, request_id: &str, client_key: Option<&str>) -> Result<(), Refusal> {
        let j = self.joined()?;
        let info = j.info.clone();
        let max = self.node.settings.max_tip;
        if amount <= 0 || amount > max {
            return Err(Refusal::new(ErrorCode::InvalidValue, format!("a tip is 1 to {max} minor units")));
        }
        if info.host_id == self.user {
            return Err(Refusal::new(ErrorCode::Forbidden, "you cannot tip yourself"));
        }
        if !self.email_verified {
            return Err(Refusal::new(ErrorCode::EmailUnverified, "verify your email address before tipping"));
        }
        // The client's key makes a retried tip apply once across reconnects and nodes (billing
        // scopes it to the tipper); without one, the socket's request id does, on this socket.
        let key = match client_key {
            Some(k) if valid_tip_key(k) => format!("ws:{k}"),
            Some(_) => {
                return Err(Refusal::new(ErrorCode::InvalidValue, "idempotency_key is 1-64 of A-Z a-z 0-9 - _"));
            }
            None => format!("ws:{}:{request_id}", self.id),
        };
        let settled = crate::tips::settle(&self.node.core, &info, self.user, amount, key).await?;
        self.node.hub.count(info.room_id, crate::audience::Counted::Tip(amount));
        if settled == crate::tips::Settled::Billed {
            return Ok(());
        }
        let at = chrono::Utc::now().timestamp_millis();
        self.publish(info.room_id, &ServerEvent::Tip { room_id: info.room_id, from: self.user, amount, at }).await
    }

    /// Take over a dropped socket's place; true when this socket is now in its room.
    async fn try_resume(&mut self, r: Resume) -> bool {
        let token = r.token.to_string();
        let log = &self.node.log;
        let mut record = log.claim_resume(&token).await.ok().flatten();
        if record.is_none() {
            // Its node may not have noticed the drop yet: ask it to let go, then wait briefly.
            let takeover = serde_json::json!({ "type": TAKEOVER_TYPE, "resume_token": token }).to_string();
            let channel = user_channel(&self.node.core.redis, self.user);
            let mut conn = self.node.core.redis.conn.clone();
            let _: Result<(), _> = redis::AsyncCommands::publish(&mut conn, channel, takeover).await;
            let deadline = Instant::now() + TAKEOVER_WAIT;
            while record.is_none() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(25)).await;
                record = log.claim_resume(&token).await.ok().flatten();
            }
        }
        if record.is_none() {
            // Nobody handed it over: its node is gone (or too slow to answer). Take the place
            // from wherever it is recorded; the old node, if alive, then finds it taken.
            record = self.node.places.take_anywhere(r.token, self.user).await.ok().flatten();
            if let Some(old) = record.as_ref().and_then(|rec| rec.conn) {
                let _ = crate::sockets::release(&self.node.core.redis, self.user, old).await;
            }
        }
        let Some(record) = record.filter(|rec| rec.user_id == self.user) else { return false };
        let (Some(room_id), Some(_)) = (record.room_id, record.role) else { return false };
        let Ok(Some(info)) = self.node.rooms.get(room_id).await else { return false };
        let Ok(role) = info.admit(self.user) else { return false };
        if role != MemberRole::Host && self.check_admission(room_id).await.is_err() {
            return false;
        }
        if self.enter(info, role).await.is_err() {
            return false;
        }
        // Replay starts from what the client saw, not from now.
        if let Some(j) = self.joined.as_mut() {
            j.last_room_seq = r.last_seq;
        }
        true
    }

    /// Send the backlogged room events after `last_seq` (those meant for this user).
    async fn replay(&mut self, last_seq: u64) -> Result<(), ()> {
        #[derive(Deserialize)]
        struct Entry {
            room_seq: u64,
            #[serde(default)]
            to: Option<UserId>,
        }
        let Some(room_id) = self.joined.as_ref().map(|j| j.info.room_id) else { return Ok(()) };
        let entries = match self.node.log.backlog(room_id).await {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(error.message = %e, "failed to read a room backlog");
                return Ok(());
            }
        };
        for raw in entries {
            let Ok(entry) = serde_json::from_str::<Entry>(&raw) else { continue };
            if entry.to.is_some_and(|to| to != self.user) {
                continue;
            }
            let Some(j) = self.joined.as_mut() else { return Ok(()) };
            if entry.room_seq <= j.last_room_seq.max(last_seq) {
                continue;
            }
            j.last_room_seq = entry.room_seq;
            self.event(&raw).await?;
        }
        Ok(())
    }

    /// Unregister, keep the place for a resume if the socket may come back, and say goodbye.
    async fn finish(mut self, end: End) {
        let why = self.shared.why();
        let (resumable, close) = match (why, &end) {
            (CloseWhy::Slow, _) => (true, Some((CloseCode::Policy, "slow consumer"))),
            (CloseWhy::Idle, _) => (true, Some((CloseCode::Away, "idle timeout"))),
            (CloseWhy::Draining, _) => {
                let ev = ServerEvent::Reconnect { reason: "draining" }.to_json();
                let _ = self.send_event(&ev);
                (true, Some((CloseCode::Restart, "draining")))
            }
            (CloseWhy::TakenOver, _) => (true, Some((CloseCode::Other(4001), "resumed on another connection"))),
            // The client may resume with a fresh token; a revoked one (logout) ends the place.
            (CloseWhy::TokenExpired, _) => (true, Some((CloseCode::Other(CLOSE_TOKEN_EXPIRED), "token_expired"))),
            (CloseWhy::TokenRevoked, _) => (false, Some((CloseCode::Other(CLOSE_TOKEN_REVOKED), "token_revoked"))),
            (CloseWhy::None, End::ClientClosed(reason)) => {
                let code = reason.as_ref().map(|r| r.code);
                (!matches!(code, Some(CloseCode::Normal) | Some(CloseCode::Away)), Some((CloseCode::Normal, "bye")))
            }
            (CloseWhy::None, End::Protocol(ProtocolError::Overflow)) => {
                (true, Some((CloseCode::Size, "frame too large")))
            }
            (CloseWhy::None, End::Protocol(_)) => (true, Some((CloseCode::Protocol, "protocol error"))),
            (CloseWhy::None, End::Unavailable) => (false, Some((CloseCode::Again, "temporarily unavailable"))),
            (CloseWhy::None, End::Dropped) => (true, None),
        };
        let left = self.node.hub.unregister(self.id);
        // The hub is the source of truth: a `room.ended` still queued has already removed it.
        let room = left.room;
        let record = resumable.then(|| ResumeRecord {
            user_id: self.user,
            room_id: room.as_ref().map(|r| r.0.room_id),
            role: room.as_ref().map(|r| r.1),
            conn: Some(self.id),
        });
        // Whoever deletes the place owns it: when a resume on another node already took it,
        // the user is back there and this socket neither keeps a record nor announces a leave.
        // An owned place becomes its resume record in the same step.
        let token = self.token.to_string();
        let entry = record.as_ref().map(|r| self.node.log.resume_entry(&token, r));
        let owned = match self.node.places.hand_over(self.token, entry).await {
            Ok(owned) => owned,
            Err(e) => {
                tracing::warn!(error.message = %e, "failed to hand over a socket's place");
                if let Some(r) = &record {
                    if let Err(e) = self.node.log.save_resume(&token, r).await {
                        tracing::error!(error.message = %e, "failed to save a resume record");
                    }
                }
                true
            }
        };
        let resumable = resumable && owned;
        self.node.bus.sync(Topic::User(self.user));
        if let Err(e) = crate::sockets::release(&self.node.core.redis, self.user, self.id).await {
            // The place lapses at the token's expiry anyway.
            tracing::warn!(error.message = %e, "failed to release a socket place");
        }
        if let Some((info, _)) = &room {
            self.node.bus.sync(Topic::Room(info.room_id));
        }
        if resumable {
            if let Some((info, role)) = room {
                self.node.hub.schedule_leave(PendingLeave {
                    due: Instant::now() + self.node.settings.resume_window,
                    token: self.token,
                    room: info,
                    user: self.user,
                    role,
                });
            }
        } else if let Some((info, role)) = room.filter(|_| owned) {
            if announced(info.kind, role) && !self.node.hub.user_in_room(self.user, info.room_id) {
                let ev = ServerEvent::MemberLeft { room_id: info.room_id, user_id: self.user, role, reason: "left" }
                    .to_json();
                if let Err(e) = self.node.log.publish(info.room_id, &ev).await {
                    tracing::error!(error.message = %e, "failed to announce a leave");
                }
            }
        }
        match close {
            Some((code, text)) => {
                let _ = self.out.close(code.into(), text);
            }
            // Without a goodbye the response ends at once and the connection closes.
            None => self.out.finish(),
        }
    }
}

/// Announce that a dropped socket did not come back within the resume window.
pub async fn expire_place(node: &Node, leave: PendingLeave) {
    match node.log.expire_resume(&leave.token.to_string()).await {
        Ok(true) => {}
        Ok(false) => return, // resumed elsewhere
        Err(e) => {
            tracing::error!(error.message = %e, "failed to expire a resume record");
            return;
        }
    }
    // A node presumed dead that came back still holds its sockets' places.
    if node.places.held(leave.token).await.unwrap_or(false) {
        return;
    }
    let room_id = leave.room.room_id;
    if announced(leave.room.kind, leave.role) && !node.hub.user_in_room(leave.user, room_id) {
        let ev = ServerEvent::MemberLeft { room_id, user_id: leave.user, role: leave.role, reason: "disconnected" };
        if let Err(e) = node.log.publish(room_id, &ev.to_json()).await {
            tracing::error!(error.message = %e, "failed to announce a leave");
        }
    }
}

/// A client's tip idempotency key: 1-64 of `A-Z a-z 0-9 - _`.
fn valid_tip_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= 64 && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
