//! Signaling settings, read from the environment with documented defaults.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `SIGNALING_NODE_ID` | `sig-<random>` | this node's name in viewer counts and `welcome` |
//! | `SIGNALING_MAX_FRAME_BYTES` | `65536` | largest WebSocket frame a client may send |
//! | `SIGNALING_QUEUE_LEN` | `64` | outbound events queued per socket before it is cut off as slow |
//! | `SIGNALING_MAX_CONNECTIONS` | `50000` | sockets this node accepts before answering 503 |
//! | `SIGNALING_MAX_SOCKETS_PER_USER` | `10` | sockets one user may hold across all nodes (429 beyond) |
//! | `SIGNALING_MAX_SDP_BYTES` | `16384` | largest SDP in `offer` / `answer` |
//! | `SIGNALING_CHAT_MAX_CHARS` | `500` | longest chat message |
//! | `SIGNALING_CHAT_RATE` | `10` | chat messages per user per window |
//! | `SIGNALING_CHAT_WINDOW_SECS` | `10` | chat rate-limit window |
//! | `SIGNALING_MAX_TIP` | `1000000` | largest tip, minor units |
//! | `SIGNALING_PING_SECS` | `15` | how often idle sockets are pinged |
//! | `SIGNALING_IDLE_SECS` | `45` | a socket silent this long (no pong either) is closed |
//! | `SIGNALING_RESUME_SECS` | `30` | how long a dropped socket may resume its place |
//! | `SIGNALING_BACKLOG_LEN` | `256` | recent events kept per room for resume |
//! | `SIGNALING_PLACE_REFRESH_SECS` | `5` | node heartbeat period; a node silent 3 periods is swept and its sockets' places can be resumed elsewhere |
//! | `TANDEM_AI_ROUND_SECS` | `30` | length of an AI room's audience prompt round |
//! | `TANDEM_AI_PROMPT_MAX_CHARS` | `200` | longest proposed prompt |
//! | `TANDEM_AI_BLOCKLIST` | empty | comma-separated words or phrases a proposal may not contain |
//! | `TANDEM_AI_PROPOSE_RATE` / `TANDEM_AI_PROPOSE_WINDOW_SECS` | `3` / `30` | proposals per user per window |

use anyhow::Context;
use std::time::Duration;

/// Settings of one signaling node.
#[derive(Debug, Clone)]
pub struct SignalingSettings {
    /// Node name (viewer-count hash field, `welcome.node_id`).
    pub node_id: String,
    /// Largest inbound frame, bytes.
    pub max_frame_bytes: usize,
    /// Outbound queue bound per socket.
    pub queue_len: usize,
    /// Sockets accepted before 503.
    pub max_connections: usize,
    /// Sockets one user may hold across all nodes.
    pub max_sockets_per_user: usize,
    /// Largest SDP, bytes.
    pub max_sdp_bytes: usize,
    /// Longest chat message, characters.
    pub chat_max_chars: usize,
    /// Chat messages allowed per user per window.
    pub chat_rate: u32,
    /// Chat rate-limit window.
    pub chat_window: Duration,
    /// Largest tip, minor units.
    pub max_tip: i64,
    /// Ping period of the shared ticker.
    pub ping_every: Duration,
    /// Silence after which a socket is closed.
    pub idle_timeout: Duration,
    /// How long a dropped socket may resume.
    pub resume_window: Duration,
    /// Events kept per room for resume.
    pub backlog_len: usize,
    /// Node heartbeat period (places in Redis; dead after three).
    pub place_refresh: Duration,
    /// Length of an audience prompt round.
    pub ai_round: Duration,
    /// Longest proposed prompt, characters.
    pub prompt_max_chars: usize,
    /// Words and phrases a proposal may not contain (lowercase).
    pub blocklist: Vec<String>,
    /// Proposals per user per window.
    pub propose_rate: u32,
    /// Proposal rate-limit window.
    pub propose_window: Duration,
}

impl Default for SignalingSettings {
    fn default() -> Self {
        Self {
            node_id: format!("sig-{:08x}", rand::random::<u32>()),
            max_frame_bytes: 64 * 1024,
            queue_len: 64,
            max_connections: 50_000,
            max_sockets_per_user: 10,
            max_sdp_bytes: 16 * 1024,
            chat_max_chars: 500,
            chat_rate: 10,
            chat_window: Duration::from_secs(10),
            max_tip: 1_000_000,
            ping_every: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(45),
            resume_window: Duration::from_secs(30),
            backlog_len: 256,
            place_refresh: Duration::from_secs(5),
            ai_round: Duration::from_secs(30),
            prompt_max_chars: 200,
            blocklist: Vec::new(),
            propose_rate: 3,
            propose_window: Duration::from_secs(30),
        }
    }
}

fn var<T: std::str::FromStr>(name: &str) -> anyhow::Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    match std::env::var(name).ok().filter(|v| !v.trim().is_empty()) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse::<T>()
            .map(Some)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("{name} must be a number, got `{v}`")),
    }
}

impl SignalingSettings {
    /// Read the `SIGNALING_*` variables over the defaults.
    ///
    /// # Errors
    /// A variable is set but does not parse, or the limits contradict each other.
    pub fn from_env() -> anyhow::Result<Self> {
        let d = Self::default();
        let secs = |name: &str, default: Duration| -> anyhow::Result<Duration> {
            Ok(var::<u64>(name)?.map(Duration::from_secs).unwrap_or(default))
        };
        let s = Self {
            node_id: std::env::var("SIGNALING_NODE_ID").ok().filter(|v| !v.trim().is_empty()).unwrap_or(d.node_id),
            max_frame_bytes: var("SIGNALING_MAX_FRAME_BYTES")?.unwrap_or(d.max_frame_bytes),
            queue_len: var("SIGNALING_QUEUE_LEN")?.unwrap_or(d.queue_len),
            max_connections: var("SIGNALING_MAX_CONNECTIONS")?.unwrap_or(d.max_connections),
            max_sockets_per_user: var("SIGNALING_MAX_SOCKETS_PER_USER")?.unwrap_or(d.max_sockets_per_user),
            max_sdp_bytes: var("SIGNALING_MAX_SDP_BYTES")?.unwrap_or(d.max_sdp_bytes),
            chat_max_chars: var("SIGNALING_CHAT_MAX_CHARS")?.unwrap_or(d.chat_max_chars),
            chat_rate: var("SIGNALING_CHAT_RATE")?.unwrap_or(d.chat_rate),
            chat_window: secs("SIGNALING_CHAT_WINDOW_SECS", d.chat_window)?,
            max_tip: var("SIGNALING_MAX_TIP")?.unwrap_or(d.max_tip),
            ping_every: secs("SIGNALING_PING_SECS", d.ping_every)?,
            idle_timeout: secs("SIGNALING_IDLE_SECS", d.idle_timeout)?,
            resume_window: secs("SIGNALING_RESUME_SECS", d.resume_window)?,
            backlog_len: var("SIGNALING_BACKLOG_LEN")?.unwrap_or(d.backlog_len),
            place_refresh: secs("SIGNALING_PLACE_REFRESH_SECS", d.place_refresh)?,
            ai_round: secs("TANDEM_AI_ROUND_SECS", d.ai_round)?,
            prompt_max_chars: var("TANDEM_AI_PROMPT_MAX_CHARS")?.unwrap_or(d.prompt_max_chars),
            blocklist: std::env::var("TANDEM_AI_BLOCKLIST")
                .unwrap_or_default()
                .split(',')
                .map(|w| w.trim().to_lowercase())
                .filter(|w| !w.is_empty())
                .collect(),
            propose_rate: var("TANDEM_AI_PROPOSE_RATE")?.unwrap_or(d.propose_rate),
            propose_window: secs("TANDEM_AI_PROPOSE_WINDOW_SECS", d.propose_window)?,
        };
        s.validate()?;
        Ok(s)
    }

    /// Check that the limits make sense together.
    ///
    /// # Errors
    /// A zero bound, or an SDP limit above the frame limit.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.queue_len > 0, "SIGNALING_QUEUE_LEN must be at least 1");
        anyhow::ensure!(self.max_sockets_per_user > 0, "SIGNALING_MAX_SOCKETS_PER_USER must be at least 1");
        anyhow::ensure!(self.max_frame_bytes >= 1024, "SIGNALING_MAX_FRAME_BYTES must be at least 1024");
        anyhow::ensure!(
            self.max_sdp_bytes < self.max_frame_bytes,
            "SIGNALING_MAX_SDP_BYTES must be below SIGNALING_MAX_FRAME_BYTES"
        );
        anyhow::ensure!(self.chat_window.as_secs() > 0, "SIGNALING_CHAT_WINDOW_SECS must be at least 1");
        anyhow::ensure!(self.chat_rate > 0, "SIGNALING_CHAT_RATE must be at least 1");
        anyhow::ensure!(self.ping_every < self.idle_timeout, "SIGNALING_PING_SECS must be below SIGNALING_IDLE_SECS");
        anyhow::ensure!(self.backlog_len > 0, "SIGNALING_BACKLOG_LEN must be at least 1");
        anyhow::ensure!(self.place_refresh.as_secs() > 0, "SIGNALING_PLACE_REFRESH_SECS must be at least 1");
        anyhow::ensure!(self.ai_round.as_secs() >= 1, "TANDEM_AI_ROUND_SECS must be at least 1");
        anyhow::ensure!(self.prompt_max_chars > 0, "TANDEM_AI_PROMPT_MAX_CHARS must be at least 1");
        anyhow::ensure!(self.propose_window.as_secs() > 0, "TANDEM_AI_PROPOSE_WINDOW_SECS must be at least 1");
        Ok(())
    }
}
