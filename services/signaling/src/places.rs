//! Where every socket is, in Redis, so a place outlives the node that held it.
//!
//! Each node keeps a hash of its sockets' places (resume token → user, connection, room, role)
//! and a heartbeat in a sorted set of nodes. Whoever deletes a place's field owns the place:
//! the node itself when its socket closes (then it keeps a resume record for the window, as
//! before), a socket resuming on another node when the owner did not hand the place over in
//! time, or a sweeping node once the owner's heartbeat is stale (then the sweeper turns each
//! place into a resume record, drops the dead node's viewer counts and socket-cap entries, and
//! announces `member.left` for the places nobody resumed within the window).
//!
//! Keys (under the deployment prefix):
//! - `sig:places:<node>` — hash of the node's places; TTL 6 × the refresh period, refreshed
//!   by the node; rewritten from the hub when it is missing (Redis restarted) or a write failed.
//! - `sig:nodes` — sorted set of node ids scored by their last heartbeat (ms); TTL 1 day,
//!   refreshed by every heartbeat; a swept node is removed.
//! - `sig:sweep:<node>` — lease of the node sweeping a dead node; TTL 60 s.

use redis::AsyncCommands;
use std::collections::HashMap;
use std::time::Duration;
use tandem_shared::ids::UserId;
use tandem_shared::redis::RedisHandle;

use crate::hub::ResumeToken;
use crate::roomlog::{ResumeEntry, ResumeRecord};

/// How long the set of nodes outlives its last heartbeat.
const NODES_TTL_SECS: i64 = 24 * 3600;
/// How long a sweeper holds a dead node.
const SWEEP_LEASE_SECS: u64 = 60;

/// A node's places in Redis.
pub struct Places {
    redis: RedisHandle,
    node: String,
    refresh: Duration,
    hand_over: redis::Script,
}

/// Delete a place field; when it was there and a resume record is given, write the record.
const HAND_OVER_LUA: &str = r#"
local n = redis.call('HDEL', KEYS[1], ARGV[1])
if n == 1 and KEYS[2] then
  redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
end
return n
"#;

impl Places {
    /// The places of `node`, refreshed every `refresh`.
    pub fn new(redis: RedisHandle, node: String, refresh: Duration) -> Self {
        Self { redis, node, refresh, hand_over: redis::Script::new(HAND_OVER_LUA) }
    }

    fn hash_key(&self, node: &str) -> String {
        self.redis.key(format_args!("sig:places:{node}"))
    }

    fn nodes_key(&self) -> String {
        self.redis.key(format_args!("sig:nodes"))
    }

    fn hash_ttl(&self) -> i64 {
        (self.refresh.as_secs() as i64 * 6).max(6)
    }

    /// A node whose heartbeat is older than this is dead.
    pub fn dead_after(&self) -> Duration {
        self.refresh * 3
    }

    /// Record (or update) a local socket's place.
    ///
    /// # Errors
    /// Redis unreachable.
    pub async fn put(&self, token: ResumeToken, record: &ResumeRecord) -> redis::RedisResult<()> {
        let json = serde_json::to_string(record).unwrap_or_default();
        let key = self.hash_key(&self.node);
        let mut conn = self.redis.conn.clone();
        redis::pipe()
            .hset(&key, token.to_string(), json)
            .ignore()
            .expire(&key, self.hash_ttl())
            .ignore()
            .query_async(&mut conn)
            .await
    }

    /// Give up a local socket's place; true when this node still owned it (nobody took it over).
    /// With `resume` (the record's key, JSON and TTL), an owned place becomes that resume record
    /// in the same step, so a node dying halfway can lose neither.
    ///
    /// # Errors
    /// Redis unreachable.
    pub(crate) async fn hand_over(&self, token: ResumeToken, resume: Option<ResumeEntry>) -> redis::RedisResult<bool> {
        let mut inv = self.hand_over.prepare_invoke();
        inv.key(self.hash_key(&self.node)).arg(token.to_string());
        if let Some(r) = resume {
            inv.key(r.key).arg(r.json).arg(r.ttl_secs);
        }
        let mut conn = self.redis.conn.clone();
        let n: u64 = inv.invoke_async(&mut conn).await?;
        Ok(n > 0)
    }

    /// Take `user`'s place from whichever node holds it (its owner did not hand it over in time).
    ///
    /// # Errors
    /// Redis unreachable.
    pub async fn take_anywhere(&self, token: ResumeToken, user: UserId) -> redis::RedisResult<Option<ResumeRecord>> {
        let mut conn = self.redis.conn.clone();
        let nodes: Vec<String> = conn.zrange(self.nodes_key(), 0, -1).await?;
        if nodes.is_empty() {
            return Ok(None);
        }
        let field = token.to_string();
        let mut pipe = redis::pipe();
        for n in &nodes {
            pipe.hget(self.hash_key(n), &field);
        }
        let found: Vec<Option<String>> = pipe.query_async(&mut conn).await?;
        for (node, raw) in nodes.iter().zip(found) {
            let Some(record) = raw.and_then(|r| serde_json::from_str::<ResumeRecord>(&r).ok()) else { continue };
            if record.user_id != user {
                return Ok(None);
            }
            let n: u64 = conn.hdel(self.hash_key(node), &field).await?;
            if n > 0 {
                return Ok(Some(record));
            }
        }
        Ok(None)
    }

    /// Whether any node holds a place under `token`.
    ///
    /// # Errors
    /// Redis unreachable.
    pub async fn held(&self, token: ResumeToken) -> redis::RedisResult<bool> {
        let mut conn = self.redis.conn.clone();
        let nodes: Vec<String> = conn.zrange(self.nodes_key(), 0, -1).await?;
        let field = token.to_string();
        let mut pipe = redis::pipe();
        for n in &nodes {
            pipe.hexists(self.hash_key(n), &field);
        }
        let found: Vec<bool> = pipe.query_async(&mut conn).await?;
        Ok(found.into_iter().any(|b| b))
    }

    /// Beat this node's heartbeat and keep its places alive. Returns false when the places hash
    /// was gone (Redis lost it, or the node was swept): the caller rewrites it.
    ///
    /// # Errors
    /// Redis unreachable.
    pub async fn heartbeat(&self) -> redis::RedisResult<bool> {
        let now_ms = chrono::Utc::now().timestamp_millis();
        let nodes = self.nodes_key();
        let mut conn = self.redis.conn.clone();
        let (_, _, kept): ((), (), bool) = redis::pipe()
            .zadd(&nodes, &self.node, now_ms)
            .expire(&nodes, NODES_TTL_SECS)
            .expire(self.hash_key(&self.node), self.hash_ttl())
            .query_async(&mut conn)
            .await?;
        Ok(kept)
    }

    /// Replace this node's places with `places` (after a Redis loss or a failed write).
    ///
    /// # Errors
    /// Redis unreachable.
    pub async fn rewrite(&self, places: &[(ResumeToken, ResumeRecord)]) -> redis::RedisResult<()> {
        let key = self.hash_key(&self.node);
        let mut conn = self.redis.conn.clone();
        let mut pipe = redis::pipe();
        pipe.atomic().del(&key).ignore();
        for chunk in places.chunks(1000) {
            let fields: Vec<(String, String)> =
                chunk.iter().map(|(t, r)| (t.to_string(), serde_json::to_string(r).unwrap_or_default())).collect();
            pipe.hset_multiple(&key, &fields).ignore();
        }
        pipe.expire(&key, self.hash_ttl()).ignore();
        pipe.query_async(&mut conn).await
    }

    /// Nodes other than this one whose heartbeat is older than [`Self::dead_after`].
    ///
    /// # Errors
    /// Redis unreachable.
    pub async fn dead_nodes(&self) -> redis::RedisResult<Vec<String>> {
        let cutoff = chrono::Utc::now().timestamp_millis() - self.dead_after().as_millis() as i64;
        let mut conn = self.redis.conn.clone();
        let dead: Vec<String> = conn.zrangebyscore(self.nodes_key(), "-inf", cutoff).await?;
        Ok(dead.into_iter().filter(|n| *n != self.node).collect())
    }

    /// Claim a dead node and take every place it held (each field deleted by us, so a socket
    /// resuming at the same moment and this sweep never both get one). `None` when another
    /// node is sweeping it.
    ///
    /// # Errors
    /// Redis unreachable.
    pub async fn sweep(&self, dead: &str) -> redis::RedisResult<Option<Vec<(ResumeToken, ResumeRecord)>>> {
        let mut conn = self.redis.conn.clone();
        let lease = self.redis.key(format_args!("sig:sweep:{dead}"));
        let got: bool = redis::cmd("SET")
            .arg(&lease)
            .arg(&self.node)
            .arg("NX")
            .arg("EX")
            .arg(SWEEP_LEASE_SECS)
            .query_async::<Option<String>>(&mut conn)
            .await?
            .is_some();
        if !got {
            return Ok(None);
        }
        let key = self.hash_key(dead);
        let all: HashMap<String, String> = conn.hgetall(&key).await?;
        let mut taken = Vec::with_capacity(all.len());
        for (field, raw) in all {
            let n: u64 = conn.hdel(&key, &field).await?;
            let (Some(token), Ok(record)) = (ResumeToken::parse(&field), serde_json::from_str(&raw)) else { continue };
            if n > 0 {
                taken.push((token, record));
            }
        }
        let _: () =
            redis::pipe().del(&key).ignore().zrem(self.nodes_key(), dead).ignore().query_async(&mut conn).await?;
        Ok(Some(taken))
    }
}
