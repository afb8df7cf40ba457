//! Audience prompt rounds of AI rooms, in Redis, so every signaling node sees the same round.
//!
//! Keys (under the deployment prefix; every one has a TTL):
//! - `sig:ai:{room}` — hash `round`, `ends_at` (Unix ms), `locked`; TTL 24 h, refreshed.
//! - `sig:ai:props:{room}:{round}` — proposals: id → `{text, by, at}`; TTL 4 rounds + 60 s.
//! - `sig:ai:voters:{room}:{round}` — who voted: user → proposal (one vote per user per round).
//! - `sig:ai:tally:{room}:{round}` — sorted set proposal → votes.
//! - `sig:ai:dirty:{room}` — set by a vote, taken by the round driver to push totals; TTL 60 s.
//! - `sig:ai:lease:{room}` — the node driving the room's rounds; TTL 3 s, renewed every second.
//! - `sig:ai:propose:{user}` — proposals in the current rate window; TTL the window.
//!
//! Every change is one Lua script, so a vote can never land in a round that has closed, and a
//! round closes exactly once (compare-and-set on `round`).

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;
use tandem_shared::ids::{ProposalId, RoomId, UserId};
use tandem_shared::redis::RedisHandle;

/// Starts the room's first round if there is none; leaves the round number in `r`.
const ENSURE_ROUND: &str = r#"
local now = tonumber(ARGV[1])
local r = redis.call('HGET', KEYS[1], 'round')
if not r then
  redis.call('HSET', KEYS[1], 'round', 1, 'ends_at', now + tonumber(ARGV[2]))
  r = '1'
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
r = tonumber(r)
"#;

const PROPOSE: &str = r#"
if redis.call('HEXISTS', KEYS[1], 'locked') == 1 then return -1 end
local n = redis.call('INCR', KEYS[2])
if n == 1 then redis.call('EXPIRE', KEYS[2], ARGV[9]) end
if n > tonumber(ARGV[8]) then return -3 end
local props = ARGV[5] .. r
if redis.call('HLEN', props) >= tonumber(ARGV[10]) then return -2 end
redis.call('HSET', props, ARGV[6], ARGV[7])
redis.call('EXPIRE', props, ARGV[4])
return r
"#;

const VOTE: &str = r#"
if redis.call('HEXISTS', KEYS[1], 'locked') == 1 then return -1 end
local props, voters, tally = ARGV[5] .. r, ARGV[6] .. r, ARGV[7] .. r
if redis.call('HEXISTS', props, ARGV[9]) == 0 then return -2 end
if redis.call('HSETNX', voters, ARGV[8], ARGV[9]) == 0 then return -3 end
redis.call('EXPIRE', voters, ARGV[4])
redis.call('ZINCRBY', tally, 1, ARGV[9])
redis.call('EXPIRE', tally, ARGV[4])
redis.call('SET', KEYS[2], 1, 'EX', 60)
return r
"#;

/// Close the round if it is due and not locked; returns the closed round (0 when none).
const CLOSE: &str = r#"
if redis.call('HEXISTS', KEYS[1], 'locked') == 1 then return 0 end
if now < tonumber(redis.call('HGET', KEYS[1], 'ends_at')) then return 0 end
redis.call('HSET', KEYS[1], 'round', r + 1, 'ends_at', now + tonumber(ARGV[2]))
return r
"#;

const LEASE: &str = r#"
local v = redis.call('GET', KEYS[1])
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0
"#;

/// Most proposals in one round.
const MAX_PROPOSALS: usize = 50;
/// How long a driver's lease lasts without renewal.
pub const LEASE_TTL: Duration = Duration::from_secs(3);
const STATE_TTL_SECS: u64 = 24 * 3600;

/// A proposal as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Proposal {
    /// The prompt.
    pub text: String,
    /// Who proposed it.
    pub by: UserId,
    /// When (Unix ms): ties go to the earlier proposal.
    pub at: i64,
}

/// Outcome of a proposal or a vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Recorded in this round.
    Round(u64),
    /// The host locked the prompt.
    Locked,
    /// Proposal: the round is full. Vote: no such proposal in the current round.
    Refused,
    /// Proposal: the user's rate budget is spent. Vote: the user already voted this round.
    Spent,
}

fn outcome(n: i64) -> Outcome {
    match n {
        -1 => Outcome::Locked,
        -2 => Outcome::Refused,
        -3 => Outcome::Spent,
        n => Outcome::Round(n.max(0) as u64),
    }
}

/// A closed round: its number, proposals and totals.
#[derive(Debug, Clone)]
pub struct ClosedRound {
    /// The round that closed.
    pub round: u64,
    /// Its winner, with its votes, if any proposal got a vote.
    pub winner: Option<(ProposalId, Proposal, u64)>,
}

/// The Redis side of prompt rounds.
pub struct Votes {
    redis: RedisHandle,
    propose: redis::Script,
    vote: redis::Script,
    close: redis::Script,
    lease: redis::Script,
    round: Duration,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Votes {
    /// Rounds of `round` length.
    pub fn new(redis: RedisHandle, round: Duration) -> Self {
        Self {
            redis,
            propose: redis::Script::new(&format!("{ENSURE_ROUND}{PROPOSE}")),
            vote: redis::Script::new(&format!("{ENSURE_ROUND}{VOTE}")),
            close: redis::Script::new(&format!("{ENSURE_ROUND}{CLOSE}")),
            lease: redis::Script::new(LEASE),
            round,
        }
    }

    fn state(&self, room: RoomId) -> String {
        self.redis.key(format_args!("sig:ai:{room}"))
    }

    fn per_round(&self, what: &str, room: RoomId) -> String {
        self.redis.key(format_args!("sig:ai:{what}:{room}:"))
    }

    fn round_ttl(&self) -> u64 {
        self.round.as_secs() * 4 + 60
    }

    fn invoke<'a>(&self, script: &'a redis::Script, room: RoomId) -> redis::ScriptInvocation<'a> {
        let mut inv = script.prepare_invoke();
        inv.key(self.state(room))
            .arg(now_ms())
            .arg(self.round.as_millis() as u64)
            .arg(STATE_TTL_SECS)
            .arg(self.round_ttl());
        inv
    }

    /// Record a proposal in the room's current round, within `user`'s rate budget.
    ///
    /// # Errors
    /// Redis unreachable.
    pub async fn propose(
        &self,
        room: RoomId,
        id: ProposalId,
        p: &Proposal,
        limit: u32,
        window: Duration,
    ) -> redis::RedisResult<Outcome> {
        let json = serde_json::to_string(p).unwrap_or_default();
        let mut inv = self.invoke(&self.propose, room);
        inv.key(self.redis.key(format_args!("sig:ai:propose:{}", p.by)))
            .arg(self.per_round("props", room))
            .arg(id.to_string())
            .arg(json)
            .arg(limit)
            .arg(window.as_secs().max(1))
            .arg(MAX_PROPOSALS);
        let n: i64 = inv.invoke_async(&mut self.redis.conn.clone()).await?;
        Ok(outcome(n))
    }

    /// Record `user`'s vote for `id` in the current round.
    ///
    /// # Errors
    /// Redis unreachable.
    pub async fn vote(&self, room: RoomId, user: UserId, id: ProposalId) -> redis::RedisResult<Outcome> {
        let mut inv = self.invoke(&self.vote, room);
        inv.key(self.redis.key(format_args!("sig:ai:dirty:{room}")))
            .arg(self.per_round("props", room))
            .arg(self.per_round("voters", room))
            .arg(self.per_round("tally", room))
            .arg(user.to_string())
            .arg(id.to_string());
        let n: i64 = inv.invoke_async(&mut self.redis.conn.clone()).await?;
        Ok(outcome(n))
    }

    /// Close the room's round if it is due; the closed round and its winner.
    ///
    /// # Errors
    /// Redis unreachable.
    pub async fn close_if_due(&self, room: RoomId) -> redis::RedisResult<Option<ClosedRound>> {
        let closed: i64 = self.invoke(&self.close, room).invoke_async(&mut self.redis.conn.clone()).await?;
        if closed <= 0 {
            return Ok(None);
        }
        let round = closed as u64;
        let props = self.proposals(room, round).await?;
        let totals = self.totals(room, round).await?;
        let winner = totals
            .into_iter()
            .filter(|(_, v)| *v > 0)
            .filter_map(|(id, v)| props.get(&id).map(|p| (id, p.clone(), v)))
            .max_by(|a, b| a.2.cmp(&b.2).then(b.1.at.cmp(&a.1.at)));
        Ok(Some(ClosedRound { round, winner }))
    }

    /// The current round and when it ends (Unix ms), if rounds started.
    ///
    /// # Errors
    /// Redis unreachable.
    pub async fn current(&self, room: RoomId) -> redis::RedisResult<Option<(u64, i64)>> {
        let (r, ends): (Option<u64>, Option<i64>) = redis::cmd("HMGET")
            .arg(self.state(room))
            .arg("round")
            .arg("ends_at")
            .query_async(&mut self.redis.conn.clone())
            .await?;
        Ok(r.zip(ends))
    }

    /// The proposals of a round.
    ///
    /// # Errors
    /// Redis unreachable.
    pub async fn proposals(&self, room: RoomId, round: u64) -> redis::RedisResult<HashMap<ProposalId, Proposal>> {
        let raw: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(format!("{}{round}", self.per_round("props", room)))
            .query_async(&mut self.redis.conn.clone())
            .await?;
        Ok(raw.into_iter().filter_map(|(k, v)| Some((k.parse().ok()?, serde_json::from_str(&v).ok()?))).collect())
    }

    /// Votes per proposal in a round.
    ///
    /// # Errors
    /// Redis unreachable.
    pub async fn totals(&self, room: RoomId, round: u64) -> redis::RedisResult<Vec<(ProposalId, u64)>> {
        let raw: Vec<(String, f64)> = redis::cmd("ZRANGE")
            .arg(format!("{}{round}", self.per_round("tally", room)))
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query_async(&mut self.redis.conn.clone())
            .await?;
        Ok(raw.into_iter().filter_map(|(k, v)| Some((k.parse().ok()?, v.max(0.0) as u64))).collect())
    }

    /// Whether votes arrived since the last call (the driver pushes totals then).
    ///
    /// # Errors
    /// Redis unreachable.
    pub async fn take_dirty(&self, room: RoomId) -> redis::RedisResult<bool> {
        let key = self.redis.key(format_args!("sig:ai:dirty:{room}"));
        let v: Option<String> = redis::cmd("GETDEL").arg(key).query_async(&mut self.redis.conn.clone()).await?;
        Ok(v.is_some())
    }

    /// Take or keep the lease on driving the room's rounds; true when `node` holds it.
    ///
    /// # Errors
    /// Redis unreachable.
    pub async fn lease(&self, room: RoomId, node: &str) -> redis::RedisResult<bool> {
        let mut inv = self.lease.prepare_invoke();
        inv.key(self.redis.key(format_args!("sig:ai:lease:{room}"))).arg(node).arg(LEASE_TTL.as_millis() as u64);
        let n: i64 = inv.invoke_async(&mut self.redis.conn.clone()).await?;
        Ok(n == 1)
    }

    /// Lock (`true`: no rounds) or unlock (a fresh round starts now).
    ///
    /// # Errors
    /// Redis unreachable.
    pub async fn set_locked(&self, room: RoomId, locked: bool) -> redis::RedisResult<()> {
        let state = self.state(room);
        let mut pipe = redis::pipe();
        if locked {
            pipe.hset(&state, "locked", 1);
        } else {
            pipe.hdel(&state, "locked").hset(&state, "ends_at", now_ms() + self.round.as_millis() as i64);
        }
        pipe.expire(&state, STATE_TTL_SECS as i64);
        pipe.query_async(&mut self.redis.conn.clone()).await
    }

    /// Remove a proposal from the current round; its text when it was there.
    ///
    /// # Errors
    /// Redis unreachable.
    pub async fn veto(&self, room: RoomId, id: ProposalId) -> redis::RedisResult<Option<Proposal>> {
        let Some((round, _)) = self.current(room).await? else { return Ok(None) };
        let props = format!("{}{round}", self.per_round("props", room));
        let mut conn = self.redis.conn.clone();
        let raw: Option<String> = redis::cmd("HGET").arg(&props).arg(id.to_string()).query_async(&mut conn).await?;
        let Some(p) = raw.and_then(|r| serde_json::from_str::<Proposal>(&r).ok()) else { return Ok(None) };
        let dirty = self.redis.key(format_args!("sig:ai:dirty:{room}"));
        redis::pipe()
            .hdel(&props, id.to_string())
            .zrem(format!("{}{round}", self.per_round("tally", room)), id.to_string())
            .set_ex(dirty, 1, 60)
            .query_async::<()>(&mut conn)
            .await?;
        Ok(Some(p))
    }

    /// A proposal of the current round with its votes.
    ///
    /// # Errors
    /// Redis unreachable.
    pub async fn proposal(&self, room: RoomId, id: ProposalId) -> redis::RedisResult<Option<(Proposal, u64)>> {
        let Some((round, _)) = self.current(room).await? else { return Ok(None) };
        let props = self.proposals(room, round).await?;
        let Some(p) = props.get(&id).cloned() else { return Ok(None) };
        let votes = self.totals(room, round).await?.into_iter().find(|(k, _)| *k == id).map_or(0, |(_, v)| v);
        Ok(Some((p, votes)))
    }
}
