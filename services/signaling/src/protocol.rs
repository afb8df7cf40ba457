//! The JSON protocol spoken over the socket: client messages, server events, replies and error
//! codes. See `docs/signaling.md` for the table with examples.
//!
//! Every client message is an object tagged by `type` and carries a `request_id` (a string the
//! client chooses) that the `ack` or `error` reply echoes. Server events carry a per-connection
//! `seq`; events that went through a room's backlog also carry that room's `room_seq`, which is
//! what a client resumes from.

use serde::{Deserialize, Serialize};
use tandem_shared::ids::{ConnectionId, ProposalId, RoomId, UserId};
use tandem_shared::rate_limit::Class;

/// Longest `request_id` a client may send.
pub const MAX_REQUEST_ID_CHARS: usize = 64;

/// The client's own identifier for one message, echoed in the reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ClientRequestId(String);

impl ClientRequestId {
    /// Accept 1 to [`MAX_REQUEST_ID_CHARS`] characters.
    pub fn parse(s: String) -> Result<Self, String> {
        let n = s.chars().count();
        if n == 0 || n > MAX_REQUEST_ID_CHARS {
            return Err(format!("request_id must have 1 to {MAX_REQUEST_ID_CHARS} characters"));
        }
        Ok(Self(s))
    }

    /// The raw string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for ClientRequestId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// An ICE candidate as the browser's `RTCIceCandidate.toJSON()` gives it (fields other
/// browsers may add are dropped rather than refused).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceCandidate {
    /// The `candidate:` line (empty for end-of-candidates).
    pub candidate: String,
    /// Media stream identification tag.
    #[serde(rename = "sdpMid", default, skip_serializing_if = "Option::is_none")]
    pub sdp_mid: Option<String>,
    /// Index of the m-line.
    #[serde(rename = "sdpMLineIndex", default, skip_serializing_if = "Option::is_none")]
    pub sdp_mline_index: Option<u16>,
    /// ICE username fragment.
    #[serde(rename = "usernameFragment", default, skip_serializing_if = "Option::is_none")]
    pub username_fragment: Option<String>,
}

/// Largest ICE candidate line, bytes.
pub const MAX_CANDIDATE_BYTES: usize = 1024;

/// A message from a client.
/// An access token sent over the socket; never printed.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct AccessToken(String);

impl AccessToken {
    /// The token itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessToken(…)")
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum ClientMessage {
    /// Enter a room (leaving the current one, if any).
    #[serde(rename = "join")]
    Join {
        /// Echoed in the reply.
        request_id: ClientRequestId,
        /// The room.
        room_id: RoomId,
    },
    /// Leave the current room.
    #[serde(rename = "leave")]
    Leave {
        /// Echoed in the reply.
        request_id: ClientRequestId,
    },
    /// SDP offer to the other participant of a private room.
    #[serde(rename = "offer")]
    Offer {
        /// Echoed in the reply.
        request_id: ClientRequestId,
        /// The other participant.
        to: UserId,
        /// Session description.
        sdp: String,
    },
    /// SDP answer to the other participant of a private room.
    #[serde(rename = "answer")]
    Answer {
        /// Echoed in the reply.
        request_id: ClientRequestId,
        /// The other participant.
        to: UserId,
        /// Session description.
        sdp: String,
    },
    /// A trickled ICE candidate for the other participant.
    #[serde(rename = "candidate")]
    Candidate {
        /// Echoed in the reply.
        request_id: ClientRequestId,
        /// The other participant.
        to: UserId,
        /// The candidate.
        candidate: IceCandidate,
    },
    /// A chat line to everyone in the room.
    #[serde(rename = "chat")]
    Chat {
        /// Echoed in the reply.
        request_id: ClientRequestId,
        /// The text.
        text: String,
    },
    /// A tip to the room's host, minor units.
    #[serde(rename = "tip")]
    Tip {
        /// Echoed in the reply.
        request_id: ClientRequestId,
        /// Minor units.
        amount: i64,
        /// Chosen by the client (1-64 of `A-Z a-z 0-9 - _`) and reused when it retries, on
        /// any socket or node: a tip is charged once per user and key. Without it, a retry
        /// on the same socket with the same `request_id` is charged once.
        #[serde(default)]
        idempotency_key: Option<String>,
    },
    /// Host only: invite a viewer of a broadcast onto the stage (the guest slot).
    #[serde(rename = "stage.invite")]
    StageInvite {
        /// Echoed in the reply.
        request_id: ClientRequestId,
        /// The viewer.
        user_id: UserId,
    },
    /// An invited viewer accepts the stage invitation.
    #[serde(rename = "stage.accept")]
    StageAccept {
        /// Echoed in the reply.
        request_id: ClientRequestId,
    },
    /// Leave the stage (the guest), or take someone off it (the host, with `user_id`).
    #[serde(rename = "stage.leave")]
    StageLeave {
        /// Echoed in the reply.
        request_id: ClientRequestId,
        /// Host only: whom to take off the stage.
        #[serde(default)]
        user_id: Option<UserId>,
    },
    /// Still here (feeds the broker's heartbeat for the current room).
    #[serde(rename = "heartbeat")]
    Heartbeat {
        /// Echoed in the reply.
        request_id: ClientRequestId,
    },
    /// A fresh access token of the same user, so the socket outlives the one it opened with.
    #[serde(rename = "auth")]
    Auth {
        /// Echoed in the reply.
        request_id: ClientRequestId,
        /// The new access token.
        token: AccessToken,
    },
    /// Propose a prompt for the AI room's current round.
    #[serde(rename = "prompt.propose")]
    PromptPropose {
        /// Echoed in the reply.
        request_id: ClientRequestId,
        /// The prompt.
        text: String,
    },
    /// Vote for a proposal of the current round (one vote per user per round).
    #[serde(rename = "prompt.vote")]
    PromptVote {
        /// Echoed in the reply.
        request_id: ClientRequestId,
        /// The proposal.
        proposal_id: ProposalId,
    },
    /// Host only: stop (`true`) or restart (`false`) the audience rounds.
    #[serde(rename = "prompt.lock")]
    PromptLock {
        /// Echoed in the reply.
        request_id: ClientRequestId,
        /// Whether rounds stop.
        locked: bool,
    },
    /// Host only: remove a proposal from the current round.
    #[serde(rename = "prompt.veto")]
    PromptVeto {
        /// Echoed in the reply.
        request_id: ClientRequestId,
        /// The proposal.
        proposal_id: ProposalId,
    },
    /// Host only: apply a proposal (or a text of the host's own) now.
    #[serde(rename = "prompt.apply")]
    PromptApply {
        /// Echoed in the reply.
        request_id: ClientRequestId,
        /// A proposal of the current round.
        #[serde(default)]
        proposal_id: Option<ProposalId>,
        /// Or the host's own prompt.
        #[serde(default)]
        text: Option<String>,
    },
    /// The room's host (or an operator): take a user out of the room now; they may come back.
    #[serde(rename = "mod.kick")]
    ModKick {
        /// Echoed in the reply.
        request_id: ClientRequestId,
        /// Whom.
        user_id: UserId,
        /// Why (1–500 characters; kept in the audit log, never shown to the room).
        reason: String,
    },
    /// The room's host (or an operator): take a user out and keep them out of the creator's
    /// rooms for `minutes`, or for good.
    #[serde(rename = "mod.ban")]
    ModBan {
        /// Echoed in the reply.
        request_id: ClientRequestId,
        /// Whom.
        user_id: UserId,
        /// Why.
        reason: String,
        /// How long; absent: for good.
        #[serde(default)]
        minutes: Option<u32>,
    },
    /// The room's host (or an operator): no chat or prompt proposals from a user for
    /// `minutes`, or until the room ends.
    #[serde(rename = "mod.mute")]
    ModMute {
        /// Echoed in the reply.
        request_id: ClientRequestId,
        /// Whom.
        user_id: UserId,
        /// Why.
        reason: String,
        /// How long; absent: until the room ends.
        #[serde(default)]
        minutes: Option<u32>,
    },
    /// The room's host (or an operator): lift a mute.
    #[serde(rename = "mod.unmute")]
    ModUnmute {
        /// Echoed in the reply.
        request_id: ClientRequestId,
        /// Whom.
        user_id: UserId,
        /// Why.
        reason: String,
    },
    /// Host only: the artist's audio level (0–1) and beat, at most 10 a second.
    #[serde(rename = "ai.audio")]
    AiAudio {
        /// Echoed in the reply.
        request_id: ClientRequestId,
        /// Loudness, 0–1.
        level: f64,
        /// A beat now.
        #[serde(default)]
        beat: bool,
    },
}

impl ClientMessage {
    /// The message's `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientMessage::Join { .. } => "join",
            ClientMessage::Leave { .. } => "leave",
            ClientMessage::Offer { .. } => "offer",
            ClientMessage::Answer { .. } => "answer",
            ClientMessage::Candidate { .. } => "candidate",
            ClientMessage::Chat { .. } => "chat",
            ClientMessage::Tip { .. } => "tip",
            ClientMessage::StageInvite { .. } => "stage.invite",
            ClientMessage::StageAccept { .. } => "stage.accept",
            ClientMessage::StageLeave { .. } => "stage.leave",
            ClientMessage::Heartbeat { .. } => "heartbeat",
            ClientMessage::Auth { .. } => "auth",
            ClientMessage::PromptPropose { .. } => "prompt.propose",
            ClientMessage::PromptVote { .. } => "prompt.vote",
            ClientMessage::PromptLock { .. } => "prompt.lock",
            ClientMessage::PromptVeto { .. } => "prompt.veto",
            ClientMessage::PromptApply { .. } => "prompt.apply",
            ClientMessage::AiAudio { .. } => "ai.audio",
            ClientMessage::ModKick { .. } => "mod.kick",
            ClientMessage::ModBan { .. } => "mod.ban",
            ClientMessage::ModMute { .. } => "mod.mute",
            ClientMessage::ModUnmute { .. } => "mod.unmute",
        }
    }

    /// The rate-limit class the message counts against (every type has one).
    pub fn rate_class(&self) -> Class {
        match self {
            ClientMessage::Join { .. } | ClientMessage::Leave { .. } => Class::WsJoin,
            ClientMessage::Offer { .. } | ClientMessage::Answer { .. } | ClientMessage::Candidate { .. } => {
                Class::WsSignal
            }
            ClientMessage::Chat { .. } => Class::WsChat,
            ClientMessage::Tip { .. } => Class::WsTip,
            ClientMessage::StageInvite { .. }
            | ClientMessage::StageAccept { .. }
            | ClientMessage::StageLeave { .. } => Class::WsStage,
            ClientMessage::Heartbeat { .. } => Class::WsHeartbeat,
            ClientMessage::PromptPropose { .. } | ClientMessage::PromptVote { .. } => Class::WsPrompt,
            ClientMessage::PromptLock { .. } | ClientMessage::PromptVeto { .. } | ClientMessage::PromptApply { .. } => {
                Class::WsStage
            }
            ClientMessage::AiAudio { .. } => Class::WsAudio,
            ClientMessage::Auth { .. } => Class::WsAuth,
            ClientMessage::ModKick { .. }
            | ClientMessage::ModBan { .. }
            | ClientMessage::ModMute { .. }
            | ClientMessage::ModUnmute { .. } => Class::WsModerate,
        }
    }

    /// The request id the reply echoes.
    pub fn request_id(&self) -> &ClientRequestId {
        match self {
            ClientMessage::Join { request_id, .. }
            | ClientMessage::Leave { request_id }
            | ClientMessage::Offer { request_id, .. }
            | ClientMessage::Answer { request_id, .. }
            | ClientMessage::Candidate { request_id, .. }
            | ClientMessage::Chat { request_id, .. }
            | ClientMessage::Tip { request_id, .. }
            | ClientMessage::StageInvite { request_id, .. }
            | ClientMessage::StageAccept { request_id }
            | ClientMessage::StageLeave { request_id, .. }
            | ClientMessage::Heartbeat { request_id }
            | ClientMessage::Auth { request_id, .. }
            | ClientMessage::PromptPropose { request_id, .. }
            | ClientMessage::PromptVote { request_id, .. }
            | ClientMessage::PromptLock { request_id, .. }
            | ClientMessage::PromptVeto { request_id, .. }
            | ClientMessage::PromptApply { request_id, .. }
            | ClientMessage::AiAudio { request_id, .. }
            | ClientMessage::ModKick { request_id, .. }
            | ClientMessage::ModBan { request_id, .. }
            | ClientMessage::ModMute { request_id, .. }
            | ClientMessage::ModUnmute { request_id, .. } => request_id,
        }
    }
}

/// The client message types, for error messages and docs.
pub const CLIENT_TYPES: &[&str] = &[
    "auth",
    "join",
    "leave",
    "offer",
    "answer",
    "candidate",
    "chat",
    "tip",
    "stage.invite",
    "stage.accept",
    "stage.leave",
    "heartbeat",
    "prompt.propose",
    "prompt.vote",
    "prompt.lock",
    "prompt.veto",
    "prompt.apply",
    "ai.audio",
    "mod.kick",
    "mod.ban",
    "mod.mute",
    "mod.unmute",
];

/// Stable error codes of `error` replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame is not JSON, or not an object.
    InvalidJson,
    /// `type` is missing or not one of [`CLIENT_TYPES`].
    UnknownType,
    /// A known type with missing, extra or mistyped fields.
    InvalidMessage,
    /// SDP, candidate or chat text above its limit.
    TooLarge,
    /// The message needs a joined room.
    NotInRoom,
    /// The caller may not do this (stranger, not the host, not a participant).
    Forbidden,
    /// No such room.
    RoomNotFound,
    /// The room has ended.
    RoomEnded,
    /// Too many messages; try later.
    RateLimited,
    /// A value is out of range (tip amount, empty text).
    InvalidValue,
    /// No pending stage invitation.
    NotInvited,
    /// A dependency (Redis, Postgres, billing) failed; retry.
    Unavailable,
    /// The room has no AI effect.
    NotAiRoom,
    /// The prompt contains a blocked word.
    Blocked,
    /// The user already voted in this round.
    AlreadyVoted,
    /// No such proposal in the current round (it ended, or the proposal was vetoed).
    UnknownProposal,
    /// The host locked the prompt: no rounds run.
    Locked,
    /// An `auth` token that is malformed, forged, revoked or another user's.
    InvalidToken,
    /// An `auth` token that has expired, or a socket whose own token already did.
    TokenExpired,
    /// The account's email address is not verified (tips need it): verify, refresh the access
    /// token and renew the socket's with `auth`.
    EmailUnverified,
    /// The sender is muted in this room.
    Muted,
    /// Slow mode: the sender must wait before their next chat line.
    SlowMode,
    /// The user is banned from this creator's rooms.
    Banned,
    /// The creator blocks the user's region.
    GeoBlocked,
}

impl ErrorCode {
    /// The code as sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::InvalidMessage => "invalid_message",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::NotInRoom => "not_in_room",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::RoomNotFound => "room_not_found",
            ErrorCode::RoomEnded => "room_ended",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::InvalidValue => "invalid_value",
            ErrorCode::NotInvited => "not_invited",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::NotAiRoom => "not_ai_room",
            ErrorCode::Blocked => "blocked",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::EmailUnverified => "email_unverified",
            ErrorCode::TokenExpired => "token_expired",
            ErrorCode::AlreadyVoted => "already_voted",
            ErrorCode::UnknownProposal => "unknown_proposal",
            ErrorCode::Locked => "locked",
            ErrorCode::Muted => "muted",
            ErrorCode::SlowMode => "slow_mode",
            ErrorCode::Banned => "banned",
            ErrorCode::GeoBlocked => "geo_blocked",
        }
    }
}

/// A refusal of one client message: sent as an `error` reply; the socket stays open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Stable code.
    pub code: ErrorCode,
    /// For people.
    pub message: String,
}

impl Refusal {
    /// A refusal with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

/// Why a frame could not be decoded, with the request id when one could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// The frame's `request_id`, if it had a usable one.
    pub request_id: Option<ClientRequestId>,
    /// What was wrong.
    pub refusal: Refusal,
}

#[derive(Deserialize)]
struct Probe {
    #[serde(rename = "type", default)]
    kind: Option<serde_json::Value>,
    #[serde(default)]
    request_id: Option<serde_json::Value>,
}

/// Decode one text frame. Never panics; every failure says which [`ErrorCode`] applies.
///
/// # Errors
/// [`ErrorCode::InvalidJson`], [`ErrorCode::UnknownType`] or [`ErrorCode::InvalidMessage`].
pub fn decode(text: &str) -> Result<ClientMessage, DecodeError> {
    // serde also reads structs and tagged enums from JSON arrays; only objects are messages.
    if !text.trim_start().starts_with('{') {
        return Err(DecodeError {
            request_id: None,
            refusal: Refusal::new(ErrorCode::InvalidJson, "expected a JSON object"),
        });
    }
    match serde_json::from_str::<ClientMessage>(text) {
        Ok(m) => Ok(m),
        Err(full) => {
            let probe = match serde_json::from_str::<Probe>(text) {
                Ok(p) => p,
                Err(_) => {
                    return Err(DecodeError {
                        request_id: None,
                        refusal: Refusal::new(ErrorCode::InvalidJson, "expected a JSON object"),
                    })
                }
            };
            let request_id = match probe.request_id {
                Some(serde_json::Value::String(s)) => ClientRequestId::parse(s).ok(),
                _ => None,
            };
            let known = matches!(&probe.kind, Some(serde_json::Value::String(t)) if CLIENT_TYPES.contains(&t.as_str()));
            let refusal = if !known {
                Refusal::new(ErrorCode::UnknownType, format!("`type` must be one of: {}", CLIENT_TYPES.join(", ")))
            } else {
                Refusal::new(ErrorCode::InvalidMessage, trim_message(full.to_string()))
            };
            Err(DecodeError { request_id, refusal })
        }
    }
}

/// serde messages can quote the input; keep replies short.
fn trim_message(mut s: String) -> String {
    if s.len() > 200 {
        let mut cut = 200;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// The role a member holds in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberRole {
    /// The creator.
    Host,
    /// The fan of a private room, or the viewer on a broadcast's stage.
    Guest,
    /// Anyone else watching a broadcast.
    Viewer,
}

/// Events signaling itself produces. Broker events ([`tandem_shared::events::BusEvent`]) are
/// forwarded as published.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type")]
pub enum ServerEvent<'a> {
    /// First event on every socket.
    #[serde(rename = "welcome")]
    Welcome {
        /// This socket.
        connection_id: ConnectionId,
        /// Present it (with the last `room_seq` seen) to resume after a drop.
        resume_token: &'a str,
        /// The node serving the socket.
        node_id: &'a str,
        /// The authenticated user.
        user_id: UserId,
        /// Whether this socket took over a dropped one's place.
        resumed: bool,
        /// The room the socket is in after a resume.
        #[serde(skip_serializing_if = "Option::is_none")]
        room_id: Option<RoomId>,
        /// Send something (a `heartbeat` or a pong) at least this often.
        idle_timeout_secs: u64,
    },
    /// The node is going away: reconnect (to any node) with the resume token.
    #[serde(rename = "reconnect")]
    Reconnect {
        /// Why.
        reason: &'a str,
    },
    /// Someone entered the room (private rooms; the host of a broadcast).
    #[serde(rename = "member.joined")]
    MemberJoined {
        /// The room.
        room_id: RoomId,
        /// Who.
        user_id: UserId,
        /// As what.
        role: MemberRole,
    },
    /// Someone left the room.
    #[serde(rename = "member.left")]
    MemberLeft {
        /// The room.
        room_id: RoomId,
        /// Who.
        user_id: UserId,
        /// As what.
        role: MemberRole,
        /// `left`, `disconnected` or `timeout`.
        reason: &'a str,
    },
    /// SDP offer relayed from the other participant.
    #[serde(rename = "offer")]
    Offer {
        /// The room.
        room_id: RoomId,
        /// Sender.
        from: UserId,
        /// Recipient.
        to: UserId,
        /// Session description.
        sdp: &'a str,
    },
    /// SDP answer relayed from the other participant.
    #[serde(rename = "answer")]
    Answer {
        /// The room.
        room_id: RoomId,
        /// Sender.
        from: UserId,
        /// Recipient.
        to: UserId,
        /// Session description.
        sdp: &'a str,
    },
    /// ICE candidate relayed from the other participant.
    #[serde(rename = "candidate")]
    Candidate {
        /// The room.
        room_id: RoomId,
        /// Sender.
        from: UserId,
        /// Recipient.
        to: UserId,
        /// The candidate.
        candidate: &'a IceCandidate,
    },
    /// A chat line.
    #[serde(rename = "chat")]
    Chat {
        /// The room.
        room_id: RoomId,
        /// Author.
        from: UserId,
        /// Author's handle.
        handle: &'a str,
        /// The text.
        text: &'a str,
        /// Unix milliseconds.
        at: i64,
    },
    /// A tip.
    #[serde(rename = "tip")]
    Tip {
        /// The room.
        room_id: RoomId,
        /// Who tipped.
        from: UserId,
        /// Minor units.
        amount: i64,
        /// Unix milliseconds.
        at: i64,
    },
    /// The host invites a viewer on stage (delivered to that viewer only).
    #[serde(rename = "stage.invite")]
    StageInvite {
        /// The room.
        room_id: RoomId,
        /// The host.
        from: UserId,
        /// The invited viewer.
        to: UserId,
    },
    /// A viewer is now on stage.
    #[serde(rename = "stage.joined")]
    StageJoined {
        /// The room.
        room_id: RoomId,
        /// The guest.
        user_id: UserId,
    },
    /// The guest left the stage (or was taken off).
    #[serde(rename = "stage.left")]
    StageLeft {
        /// The room.
        room_id: RoomId,
        /// The guest.
        user_id: UserId,
    },
    /// Live viewer count of a broadcast, across nodes.
    #[serde(rename = "viewers")]
    Viewers {
        /// The room.
        room_id: RoomId,
        /// Viewers.
        count: u64,
    },
}

impl ServerEvent<'_> {
    /// The JSON of the event (always an object starting with `{"type":`).
    pub fn to_json(&self) -> String {
        // Serializing these plain structs cannot fail.
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{\"type\":\"internal\"}"))
    }
}

/// A reply to one client message.
#[derive(Debug, Serialize)]
#[serde(tag = "type")]
pub enum Reply<'a> {
    /// Done.
    #[serde(rename = "ack")]
    Ack {
        /// The message's id.
        request_id: &'a ClientRequestId,
        /// Reply data (the room on `join`), when there is any.
        #[serde(skip_serializing_if = "Option::is_none")]
        data: Option<serde_json::Value>,
    },
    /// Refused; the socket stays open.
    #[serde(rename = "error")]
    Error {
        /// The message's id, when it could be read.
        request_id: Option<&'a ClientRequestId>,
        /// Stable code.
        code: ErrorCode,
        /// For people.
        message: &'a str,
    },
}

impl Reply<'_> {
    /// The JSON of the reply.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{\"type\":\"error\",\"code\":\"unavailable\"}"))
    }
}

/// Prefix `event` (a JSON object) with `"seq":N`.
pub fn with_seq(seq: u64, event: &str) -> String {
    let body = event.strip_prefix('{').unwrap_or(event);
    let mut out = String::with_capacity(event.len() + 24);
    out.push_str("{\"seq\":");
    {
        use std::fmt::Write;
        let _ = write!(out, "{seq}");
    }
    if body != "}" {
        out.push(',');
    }
    out.push_str(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_join() {
        let room = RoomId::new();
        let m = decode(&format!(r#"{{"type":"join","request_id":"r1","room_id":"{room}"}}"#)).unwrap();
        assert_eq!(m, ClientMessage::Join { request_id: ClientRequestId("r1".into()), room_id: room });
    }

    #[test]
    fn classifies_bad_frames() {
        assert_eq!(decode("not json").unwrap_err().refusal.code, ErrorCode::InvalidJson);
        assert_eq!(decode("[1,2]").unwrap_err().refusal.code, ErrorCode::InvalidJson);
        let e = decode(r#"{"type":"dance","request_id":"x"}"#).unwrap_err();
        assert_eq!(e.refusal.code, ErrorCode::UnknownType);
        assert_eq!(e.request_id.unwrap().as_str(), "x");
        let e = decode(r#"{"type":"join","request_id":"y","room_id":"nope"}"#).unwrap_err();
        assert_eq!(e.refusal.code, ErrorCode::InvalidMessage);
        assert_eq!(e.request_id.unwrap().as_str(), "y");
        let e = decode(r#"{"type":"leave","request_id":"y","extra":1}"#).unwrap_err();
        assert_eq!(e.refusal.code, ErrorCode::InvalidMessage);
        assert_eq!(decode(r#"{"type":"leave"}"#).unwrap_err().refusal.code, ErrorCode::InvalidMessage);
        assert_eq!(decode(r#"{"type":"leave","request_id":""}"#).unwrap_err().request_id, None);
    }

    /// Found by the decoder property test: a JSON array was accepted as a message.
    #[test]
    fn regression_arrays_are_not_messages() {
        let e = decode(r#"["leave","🌀"]"#).unwrap_err();
        assert_eq!(e.refusal.code, ErrorCode::InvalidJson);
        assert_eq!(
            decode(" [\"join\",\"r\",\"00000000-0000-4000-8000-000000000000\"]").unwrap_err().refusal.code,
            ErrorCode::InvalidJson
        );
    }

    #[test]
    fn seq_is_spliced_into_the_object() {
        assert_eq!(with_seq(7, r#"{"type":"x"}"#), r#"{"seq":7,"type":"x"}"#);
        assert_eq!(with_seq(1, "{}"), r#"{"seq":1}"#);
    }
}
