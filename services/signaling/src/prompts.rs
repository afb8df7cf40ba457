//! AI rooms over the socket: audience proposals and votes, the host's lock, veto and direct
//! apply, the artist's audio, and the round driver (one node per room, under a Redis lease).
//!
//! The broker owns the AI effect; signaling reaches it only through
//! [`AiControl`](tandem_shared::hooks::AiControl) (in-process or internal HTTP).

use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tandem_shared::events::AiSource;
use tandem_shared::hooks::{AiControl, AiRefusal, AiSummary};
use tandem_shared::ids::{ProposalId, RoomId, UserId};

use crate::protocol::{ErrorCode, MemberRole, Refusal};
use crate::rooms::{RoomInfo, RoomKind};
use crate::votes::{Outcome, Proposal};
use crate::Node;

/// How long a room's AI lookup is trusted.
const CACHE_TTL: Duration = Duration::from_secs(5);
/// Shortest gap between two `ai.audio` messages of one socket (10 a second).
pub const AUDIO_MIN_GAP: Duration = Duration::from_millis(95);

/// Which rooms have an AI effect, asked of the broker and cached briefly.
#[derive(Default)]
pub struct AiRooms {
    cache: Mutex<HashMap<RoomId, (Option<AiSummary>, Instant)>>,
}

fn unavailable(what: &'static str) -> impl FnOnce(anyhow::Error) -> Refusal {
    move |e| {
        tracing::error!(error.cause_chain = ?e, "{what}");
        Refusal::new(ErrorCode::Unavailable, "temporarily unavailable, retry")
    }
}

fn redis_down(what: &'static str) -> impl FnOnce(redis::RedisError) -> Refusal {
    move |e| unavailable(what)(e.into())
}

fn control(node: &Node) -> Result<Arc<dyn AiControl>, Refusal> {
    node.core.hooks.ai().ok_or_else(|| Refusal::new(ErrorCode::Unavailable, "AI control is not available"))
}

impl AiRooms {
    /// The room's AI, if it has one (cached).
    async fn get(&self, node: &Node, room: RoomId) -> anyhow::Result<Option<AiSummary>> {
        if let Some((hit, at)) = self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(&room) {
            if at.elapsed() < CACHE_TTL {
                return Ok(hit.clone());
            }
        }
        let ai = node.core.hooks.ai().ok_or_else(|| anyhow::anyhow!("no AI control is installed"))?;
        let found = ai.ai(room).await?;
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() > 10_000 {
            cache.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
        }
        cache.insert(room, (found.clone(), Instant::now()));
        Ok(found)
    }
}

/// The member's place: who, in which room, as what.
pub struct Member<'a> {
    /// The user.
    pub user: UserId,
    /// The room.
    pub room: &'a RoomInfo,
    /// Their role.
    pub role: MemberRole,
}

impl Member<'_> {
    fn host(&self) -> Result<(), Refusal> {
        if self.role != MemberRole::Host {
            return Err(Refusal::new(ErrorCode::Forbidden, "only the host may do this"));
        }
        Ok(())
    }
}

/// The room must be a live AI broadcast.
async fn ai_room(node: &Node, m: &Member<'_>) -> Result<(), Refusal> {
    if m.room.kind != RoomKind::Broadcast {
        return Err(Refusal::new(ErrorCode::NotAiRoom, "only broadcasts have AI effects"));
    }
    match node.ai_rooms.get(node, m.room.room_id).await.map_err(unavailable("failed to look up a room's AI"))? {
        Some(ai) if ai.active => Ok(()),
        Some(_) => Err(Refusal::new(ErrorCode::RoomEnded, "the room has ended")),
        None => Err(Refusal::new(ErrorCode::NotAiRoom, "this room has no AI effect")),
    }
}

/// Check a proposed prompt: trimmed, 1 to `max` characters, no control characters, nothing on
/// the blocklist (whole words or phrases, case-insensitive).
pub fn check_prompt(text: &str, max: usize, blocklist: &[String]) -> Result<String, Refusal> {
    let text = text.trim();
    if text.is_empty() || text.chars().any(char::is_control) {
        return Err(Refusal::new(ErrorCode::InvalidValue, "a prompt is non-empty text without control characters"));
    }
    if text.chars().count() > max {
        return Err(Refusal::new(ErrorCode::TooLarge, format!("prompts are at most {max} characters")));
    }
    let words = |s: &str| {
        let w: String = s.to_lowercase().chars().map(|c| if c.is_alphanumeric() { c } else { ' ' }).collect();
        format!(" {} ", w.split_whitespace().collect::<Vec<_>>().join(" "))
    };
    let normalized = words(text);
    if blocklist.iter().any(|b| normalized.contains(&words(b))) {
        return Err(Refusal::new(ErrorCode::Blocked, "the prompt contains a blocked word"));
    }
    Ok(text.to_string())
}

async fn publish(node: &Node, room: RoomId, event: Value) -> Result<(), Refusal> {
    node.log.publish(room, &event.to_string()).await.map_err(redis_down("failed to publish a prompt event"))?;
    Ok(())
}

fn ai_refusal(e: AiRefusal) -> Refusal {
    match e {
        AiRefusal::Refused { code: "room_ended", message } => Refusal::new(ErrorCode::RoomEnded, message),
        AiRefusal::Refused { code: "not_found", message } => Refusal::new(ErrorCode::NotAiRoom, message),
        AiRefusal::Refused { code: "forbidden", message } => Refusal::new(ErrorCode::Forbidden, message),
        AiRefusal::Refused { message, .. } => Refusal::new(ErrorCode::InvalidValue, message),
        AiRefusal::Unavailable(e) => unavailable("AI control failed")(e),
    }
}

/// `prompt.propose`: record it in the current round and tell the room.
pub async fn propose(node: &Node, m: &Member<'_>, text: &str) -> Result<Value, Refusal> {
    ai_room(node, m).await?;
    let s = &node.settings;
    let text = check_prompt(text, s.prompt_max_chars, &s.blocklist)?;
    // The creator's own rules: their blocklist, and no proposals from a muted user.
    let policy = node
        .policies
        .get(m.room.room_id)
        .await
        .map_err(unavailable("failed to read a room's rules"))?
        .ok_or_else(|| Refusal::new(ErrorCode::RoomNotFound, "no such room"))?;
    if policy.host_id != m.user && policy.is_muted(m.user, chrono::Utc::now()) {
        return Err(Refusal::new(ErrorCode::Muted, "you are muted in this room"));
    }
    if tandem_shared::moderation::contains_blocked(&text, &policy.blocked_words) {
        return Err(Refusal::new(ErrorCode::Blocked, "the prompt contains a word this creator blocks"));
    }
    let id = ProposalId::new();
    let p = Proposal { text, by: m.user, at: chrono::Utc::now().timestamp_millis() };
    let room_id = m.room.room_id;
    match node
        .votes
        .propose(room_id, id, &p, s.propose_rate, s.propose_window)
        .await
        .map_err(redis_down("failed to record a proposal"))?
    {
        Outcome::Round(round) => {
            let ev = json!({"type": "prompt.proposed", "room_id": room_id, "proposal_id": id, "text": p.text, "by": m.user, "round": round});
            publish(node, room_id, ev).await?;
            Ok(json!({"proposal_id": id, "round": round}))
        }
        Outcome::Locked => Err(Refusal::new(ErrorCode::Locked, "the host locked the prompt")),
        Outcome::Refused => Err(Refusal::new(ErrorCode::InvalidValue, "this round has all the proposals it takes")),
        Outcome::Spent => Err(Refusal::new(ErrorCode::RateLimited, "too many proposals; slow down")),
    }
}

/// `prompt.vote`: one vote per user per round (totals are pushed by the round driver).
pub async fn vote(node: &Node, m: &Member<'_>, id: ProposalId) -> Result<Value, Refusal> {
    ai_room(node, m).await?;
    match node.votes.vote(m.room.room_id, m.user, id).await.map_err(redis_down("failed to record a vote"))? {
        Outcome::Round(round) => Ok(json!({"round": round})),
        Outcome::Locked => Err(Refusal::new(ErrorCode::Locked, "the host locked the prompt")),
        Outcome::Refused => Err(Refusal::new(ErrorCode::UnknownProposal, "no such proposal in this round")),
        Outcome::Spent => Err(Refusal::new(ErrorCode::AlreadyVoted, "you already voted in this round")),
    }
}

/// `prompt.lock`: the host stops or restarts the rounds.
pub async fn lock(node: &Node, m: &Member<'_>, locked: bool) -> Result<(), Refusal> {
    m.host()?;
    ai_room(node, m).await?;
    let room_id = m.room.room_id;
    node.votes.set_locked(room_id, locked).await.map_err(redis_down("failed to lock the prompt"))?;
    publish(node, room_id, json!({"type": "prompt.locked", "room_id": room_id, "locked": locked})).await
}

/// `prompt.veto`: the host removes a proposal from the round.
pub async fn veto(node: &Node, m: &Member<'_>, id: ProposalId) -> Result<(), Refusal> {
    m.host()?;
    ai_room(node, m).await?;
    let room_id = m.room.room_id;
    if node.votes.veto(room_id, id).await.map_err(redis_down("failed to veto"))?.is_none() {
        return Err(Refusal::new(ErrorCode::UnknownProposal, "no such proposal in this round"));
    }
    publish(node, room_id, json!({"type": "prompt.vetoed", "room_id": room_id, "proposal_id": id})).await
}

/// `prompt.apply`: the host applies a proposal, or a text of their own, now.
pub async fn apply(node: &Node, m: &Member<'_>, id: Option<ProposalId>, text: Option<&str>) -> Result<(), Refusal> {
    m.host()?;
    ai_room(node, m).await?;
    let room_id = m.room.room_id;
    let (prompt, votes) = match (id, text) {
        (Some(id), None) => {
            let (p, votes) =
                node.votes
                    .proposal(room_id, id)
                    .await
                    .map_err(redis_down("failed to read a proposal"))?
                    .ok_or_else(|| Refusal::new(ErrorCode::UnknownProposal, "no such proposal in this round"))?;
            (p.text, votes)
        }
        (None, Some(t)) => (check_prompt(t, node.settings.prompt_max_chars, &[])?, 0),
        _ => return Err(Refusal::new(ErrorCode::InvalidMessage, "give either proposal_id or text")),
    };
    control(node)?.apply_prompt(room_id, &prompt, AiSource::Host, None).await.map_err(ai_refusal)?;
    let ev = json!({"type": "prompt.applied", "room_id": room_id, "prompt": prompt, "proposal_id": id, "votes": votes, "by_host": true});
    publish(node, room_id, ev).await
}

/// `ai.audio`: the host's level (at most 10 a second per socket: `last` is the socket's
/// previous one) goes to the broker, which maps it and rate-limits the pipeline updates.
pub async fn audio(
    node: &Node,
    m: &Member<'_>,
    level: f64,
    beat: bool,
    last: &mut Option<Instant>,
) -> Result<(), Refusal> {
    m.host()?;
    if !level.is_finite() || !(0.0..=1.0).contains(&level) {
        return Err(Refusal::new(ErrorCode::InvalidValue, "level is a number from 0 to 1"));
    }
    if last.is_some_and(|t| t.elapsed() < AUDIO_MIN_GAP) {
        return Err(Refusal::new(ErrorCode::RateLimited, "at most 10 audio levels a second"));
    }
    *last = Some(Instant::now());
    ai_room(node, m).await?;
    control(node)?.audio(m.room.room_id, m.user, level, beat).await.map_err(ai_refusal)
}

/// The round driver, once a second on every node: for each AI broadcast with members here,
/// take (or keep) the room's lease; the holder pushes vote totals when they changed and closes
/// due rounds, applying the winner with one update keyed by the round.
pub async fn drive(node: &Node) {
    if node.core.hooks.ai().is_none() {
        return; // no broker behind this node (tests of signaling alone)
    }
    for room in node.hub.local_broadcasts() {
        if let Err(e) = drive_room(node, room).await {
            tracing::warn!(%room, error.cause_chain = ?e, "prompt round step failed");
        }
    }
}

async fn drive_room(node: &Node, room: RoomId) -> anyhow::Result<()> {
    match node.ai_rooms.get(node, room).await? {
        Some(ai) if ai.active => {}
        _ => return Ok(()),
    }
    if !node.votes.lease(room, &node.settings.node_id).await? {
        return Ok(());
    }
    if let Some(closed) = node.votes.close_if_due(room).await? {
        if let Some((id, p, votes)) = closed.winner {
            let key = format!("vote:{room}:{}", closed.round);
            match control(node)
                .map_err(|r| anyhow::anyhow!(r.message))?
                .apply_prompt(room, &p.text, AiSource::Vote, Some(&key))
                .await
            {
                Ok(_) => {
                    let ev = json!({"type": "prompt.applied", "room_id": room, "prompt": p.text, "proposal_id": id, "votes": votes, "round": closed.round, "by_host": false});
                    node.log.publish(room, &ev.to_string()).await?;
                }
                Err(e) => {
                    tracing::warn!(%room, round = closed.round, error.message = %e, "the winning prompt was not applied")
                }
            }
        }
        if let Some((round, ends_at)) = node.votes.current(room).await? {
            let ev = json!({"type": "prompt.round", "room_id": room, "round": round, "ends_at": ends_at});
            node.log.publish(room, &ev.to_string()).await?;
        }
    }
    if node.votes.take_dirty(room).await? {
        if let Some((round, _)) = node.votes.current(room).await? {
            let totals: Vec<Value> = node
                .votes
                .totals(room, round)
                .await?
                .into_iter()
                .map(|(id, votes)| json!({"proposal_id": id, "votes": votes}))
                .collect();
            let ev = json!({"type": "prompt.votes", "room_id": room, "round": round, "totals": totals});
            node.log.publish(room, &ev.to_string()).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_are_checked_against_length_and_blocklist() {
        let block = vec!["ugly".to_string(), "bad words".to_string()];
        assert_eq!(check_prompt("  a cat  ", 10, &block).unwrap(), "a cat");
        assert_eq!(check_prompt("", 10, &block).unwrap_err().code, ErrorCode::InvalidValue);
        assert_eq!(check_prompt("abcdefghijk", 10, &block).unwrap_err().code, ErrorCode::TooLarge);
        assert_eq!(check_prompt("an UGLY cat", 20, &block).unwrap_err().code, ErrorCode::Blocked);
        assert_eq!(check_prompt("some bad, words!", 20, &block).unwrap_err().code, ErrorCode::Blocked);
        assert!(check_prompt("uglyduckling", 20, &block).is_ok(), "whole words only");
    }
}
