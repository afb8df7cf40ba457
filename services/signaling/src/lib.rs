//! Tandem signaling: the one WebSocket a client keeps open while it is on Tandem.
//!
//! It carries room events for every media mode (membership, chat, tips, stage invitations,
//! viewer counts, `room.ended`), relays SDP/ICE between the two sides of a private room, and
//! forwards the broker's events (`private.*`, `presence`). Room members may sit on different
//! nodes: every room event goes through Redis, where it is numbered, kept in a short backlog
//! (for resume) and published on the room's channel; each node subscribes to a room's channel
//! while it has members there and delivers to its own sockets, so every member gets each event
//! exactly once. The protocol is documented in `docs/signaling.md`.
//!
//! # Layout
//! - [`endpoint`]: `GET /v1/ws`: authentication before the upgrade, then the socket task.
//! - [`session`]: one socket's loop: decode, authorize, handle, forward, say goodbye, resume.
//! - [`protocol`]: client messages, server events, replies, error codes, the decoder.
//! - [`hub`]: the node's sockets and rooms, and fan-out into bounded per-socket queues.
//! - [`bus`]: the node's single Redis pub/sub connection and its subscriptions.
//! - [`roomlog`]: room sequence, backlog and publish (one Lua script), resume records.
//! - [`places`]: every socket's place in Redis, node heartbeats and the sweep of dead nodes.
//! - [`rooms`]: room lookups (broker's `rooms` table) and who may enter.
//! - [`sockets`]: the per-user socket cap across nodes (Redis).
//! - [`ticker`]: pings, idle checks, token expiry, viewer counts, expiry of dropped places, drain.
//! - [`tips`]: the seam where tips will be settled by billing.
//! - [`prompts`]: AI rooms: audience proposals and votes, host lock/veto/apply, audio, and the
//!   round driver (one node per room under a Redis lease); the broker's AI through `AiControl`.
//! - [`votes`]: the Redis side of prompt rounds (Lua scripts).
//! - [`audience`]: view spans and room counts, sent to the broker once a second (Redis Stream).
//! - [`settings`]: `SIGNALING_*` environment variables.

pub mod audience;
pub mod bus;
pub mod endpoint;
pub mod hub;
pub mod outbound;
pub mod places;
pub mod policy;
pub mod prompts;
pub mod protocol;
pub mod roomlog;
pub mod rooms;
pub mod session;
pub mod settings;
pub mod sockets;
pub mod ticker;
pub mod tips;
pub mod votes;

use actix_web::web;
use std::sync::Arc;
use tandem_shared::rate_limit::{Class, Limit, RateLimiter};
use tandem_shared::server::{Core, Service};

pub use settings::SignalingSettings;

/// Everything one signaling node shares between its sockets and background tasks.
pub struct Node {
    /// The process core (settings, Postgres, Redis, tokens, hooks, shutdown).
    pub core: Core,
    /// Signaling settings.
    pub settings: SignalingSettings,
    /// Local sockets and rooms.
    pub hub: Arc<hub::Hub>,
    /// The pub/sub subscriptions.
    pub bus: bus::Bus,
    /// Room lookups.
    pub rooms: Arc<rooms::RoomDirectory>,
    /// Room rules (mutes, slow mode, blocklist, blocked regions).
    pub policies: Arc<policy::Policies>,
    /// Room events in Redis.
    pub log: roomlog::RoomLog,
    /// Audience prompt rounds in Redis.
    pub votes: votes::Votes,
    /// Which rooms have an AI effect.
    pub ai_rooms: prompts::AiRooms,
    /// This node's sockets' places in Redis.
    pub places: places::Places,
    /// A place write failed: the ticker rewrites them all.
    pub places_dirty: std::sync::atomic::AtomicBool,
    /// Per-message-type rate limits (chat's per-user limit from `SIGNALING_CHAT_*`).
    pub limiter: RateLimiter,
}

/// The signaling service, mountable into any Tandem server.
pub struct SignalingService {
    node: Arc<Node>,
}

impl SignalingService {
    /// The node behind the service (tests inspect it).
    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }
}

impl Service for SignalingService {
    fn name(&self) -> &'static str {
        "signaling"
    }

    fn configure(&self, cfg: &mut web::ServiceConfig) {
        cfg.app_data(web::Data::new(self.node.clone())).route("/v1/ws", web::get().to(endpoint::connect));
    }
}

/// Build the signaling service with settings from `SIGNALING_*` variables and start its
/// background tasks (tied to `core.shutdown`).
///
/// # Errors
/// A `SIGNALING_*` variable does not parse.
pub async fn service(core: &Core) -> anyhow::Result<Arc<dyn Service>> {
    let settings = SignalingSettings::from_env()?;
    Ok(service_with(core, settings)?)
}

/// Build the signaling service with explicit settings (tests use this).
///
/// # Errors
/// The settings are inconsistent.
pub fn service_with(core: &Core, settings: SignalingSettings) -> anyhow::Result<Arc<SignalingService>> {
    settings.validate()?;
    let hub = Arc::new(hub::Hub::new(settings.queue_len));
    let rooms = Arc::new(rooms::RoomDirectory::new(core.hooks.clone()));
    let policies = Arc::new(policy::Policies::new(core.hooks.clone()));
    let bus = bus::Bus::start(core.redis.clone(), hub.clone(), rooms.clone(), policies.clone(), core.shutdown.clone());
    let log = roomlog::RoomLog::new(core.redis.clone(), settings.backlog_len, settings.resume_window);
    let mut limits = core.settings.rate_limits.clone();
    // `SIGNALING_CHAT_RATE` sets the per-user chat limit unless chat limits are turned off
    // (`TANDEM_RATE_WS_CHAT=off` or `TANDEM_RATE_LIMITS=off`, as load tests do).
    let mut chat = limits.get(Class::WsChat);
    if chat.user.is_some() {
        chat.user = Some(Limit { count: settings.chat_rate, period: settings.chat_window });
        limits.set(Class::WsChat, chat);
    }
    let limiter = RateLimiter::new(core.redis.clone(), limits);
    tracing::info!(node_id = %settings.node_id, "signaling node starting");
    let places = places::Places::new(core.redis.clone(), settings.node_id.clone(), settings.place_refresh);
    let places_dirty = std::sync::atomic::AtomicBool::new(false);
    let votes = votes::Votes::new(core.redis.clone(), settings.ai_round);
    let node = Arc::new(Node {
        core: core.clone(),
        settings,
        hub,
        bus,
        rooms,
        policies,
        log,
        places,
        places_dirty,
        votes,
        ai_rooms: Default::default(),
        limiter,
    });
    tokio::spawn(ticker::run(node.clone()));
    tokio::spawn(audience::run(node.clone()));
    tokio::spawn(ticker::drain(node.clone()));
    Ok(Arc::new(SignalingService { node }))
}
