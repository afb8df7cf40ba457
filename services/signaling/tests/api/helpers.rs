//! Two signaling nodes on one database and Redis prefix, users and rooms, and a WebSocket client.

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;
use tandem_shared::hooks::RoomKind;
use tandem_shared::ids::{Role, RoomId, UserId};
use tandem_shared::rate_limit::RateLimits;
use tandem_shared::redis::RedisHandle;
use tandem_shared::server::Core;
use tandem_shared::testing::{redis_url, RedisProxy, StandInRooms, TestCore, TestServer};
use tandem_signaling::{service_with, SignalingService, SignalingSettings};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for something that should happen.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// One signaling node.
pub struct Node {
    pub core: Core,
    pub server: TestServer,
    pub service: Arc<SignalingService>,
    /// Node A reaches Redis through a proxy [`Node::crash`] cuts.
    pub redis_proxy: Option<RedisProxy>,
}

impl Node {
    /// Die without a goodbye: the server stops at once (its socket tasks are dropped, no close
    /// frames, no resume records) and the node's background tasks stop.
    pub async fn crash(&self) {
        // Redis first: a dead process writes nothing more (not even from tasks still unwinding).
        if let Some(p) = &self.redis_proxy {
            p.cut();
        }
        self.server.handle.stop(false).await;
        self.core.shutdown.cancel();
    }

    /// `ws://…/v1/ws?access_token=…` plus `extra` query.
    pub fn ws_url(&self, token: &str, extra: &str) -> String {
        format!("ws://{}/v1/ws?access_token={token}{extra}", self.server.addr)
    }
}

/// Two nodes sharing a database and Redis prefix (like two processes behind a load balancer).
pub struct Cluster {
    pub t: TestCore,
    /// The broker stand-in both nodes ask about rooms.
    pub rooms: Arc<StandInRooms>,
    pub a: Node,
    pub b: Node,
}

/// Test settings: the defaults, with a name per node.
pub fn settings(node: &str) -> SignalingSettings {
    SignalingSettings { node_id: node.into(), ..SignalingSettings::default() }
}

impl Cluster {
    /// Two nodes with default settings.
    pub async fn new() -> Self {
        Self::with(settings("node-a"), settings("node-b")).await
    }

    /// Two nodes with the given settings.
    pub async fn with(sa: SignalingSettings, sb: SignalingSettings) -> Self {
        Self::build(&redis_url(), sa, sb, RateLimits::off(), false).await
    }

    /// Two nodes with the given settings and rate limits.
    pub async fn with_limits(sa: SignalingSettings, sb: SignalingSettings, limits: RateLimits) -> Self {
        Self::build(&redis_url(), sa, sb, limits, false).await
    }

    /// Two nodes on the Redis at `url`, each with its own shutdown.
    pub async fn on_redis(url: &str, sa: SignalingSettings, sb: SignalingSettings) -> Self {
        Self::build(url, sa, sb, RateLimits::off(), false).await
    }

    /// Two nodes where node A can die alone ([`Node::crash`]): it reaches Redis through a proxy.
    pub async fn crashable(sa: SignalingSettings, sb: SignalingSettings) -> Self {
        Self::build(&redis_url(), sa, sb, RateLimits::off(), true).await
    }

    async fn build(
        url: &str,
        sa: SignalingSettings,
        sb: SignalingSettings,
        limits: RateLimits,
        crashable: bool,
    ) -> Self {
        let mut t = TestCore::with_redis(url).await;
        let mut core_settings = (*t.core.settings).clone();
        core_settings.rate_limits = limits;
        t.core.settings = Arc::new(core_settings);
        let rooms = Arc::new(StandInRooms::default());
        let users: Arc<dyn tandem_shared::hooks::UserDirectory> =
            Arc::new(tandem_auth::directory::Directory::new(t.core.db.clone()));
        t.core.hooks.set_rooms(rooms.clone());
        t.core.hooks.set_users(users.clone());
        let mut core_a = t.core.clone();
        let proxy = if crashable { Some(RedisProxy::start(url).await) } else { None };
        if let Some(p) = &proxy {
            core_a.redis = RedisHandle::connect(&p.url, t.core.redis.prefix()).await.expect("redis through the proxy");
        }
        core_a.shutdown = t.core.shutdown.child_token();
        core_a.draining = Arc::new(AtomicBool::new(false));
        let svc_a = service_with(&core_a, sa).expect("node a builds");
        let server_a = TestCore::spawn(&core_a, vec![svc_a.clone()]);
        // Node B: its own pool, Redis connection, shutdown and hooks; same keys, DB and prefix.
        let mut core_b = t.core.clone();
        core_b.db = tandem_shared::db::connect(&t.database_url, 5).await.expect("second pool");
        core_b.redis = RedisHandle::connect(url, t.core.redis.prefix()).await.expect("second redis");
        core_b.shutdown = t.core.shutdown.child_token();
        core_b.draining = Arc::new(AtomicBool::new(false));
        core_b.hooks = tandem_shared::hooks::Hooks::default();
        core_b.hooks.set_rooms(rooms.clone());
        core_b.hooks.set_users(users);
        let svc_b = service_with(&core_b, sb).expect("node b builds");
        let server_b = TestCore::spawn(&core_b, vec![svc_b.clone()]);
        let a = Node { core: core_a, server: server_a, service: svc_a, redis_proxy: proxy };
        let b = Node { core: core_b, server: server_b, service: svc_b, redis_proxy: None };
        Self { t, rooms, a, b }
    }

    /// Insert a user and issue an access token.
    pub async fn user(&self, role: Role) -> (UserId, String) {
        let u = self.t.user(role).await;
        (u.id, u.token)
    }

    /// Insert a live room.
    pub async fn room(&self, kind: &str, host: UserId, guest: Option<UserId>) -> RoomId {
        let kind = if kind == "private" { RoomKind::Private } else { RoomKind::Broadcast };
        self.rooms.open(kind, host, guest, chrono::Utc::now())
    }
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A signaling client: sends requests, waits for replies, queues events in between.
pub struct Client {
    pub ws: Ws,
    pub welcome: Value,
    pending: VecDeque<Value>,
    next_id: u64,
}

impl Client {
    /// Connect and read the `welcome` event.
    pub async fn connect(url: &str) -> Self {
        let (ws, _) = tokio_tungstenite::connect_async(url).await.expect("websocket connects");
        let mut c = Self { ws, welcome: Value::Null, pending: VecDeque::new(), next_id: 0 };
        c.welcome = c.next_event().await;
        assert_eq!(c.welcome["type"], "welcome", "first event is welcome: {}", c.welcome);
        c
    }

    /// The resume token from `welcome`.
    pub fn resume_token(&self) -> String {
        self.welcome["resume_token"].as_str().expect("resume token").to_string()
    }

    /// Send raw text.
    pub async fn send_raw(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("send");
    }

    /// Read the next JSON frame from the socket (panics after [`DEADLINE`]).
    async fn read(&mut self) -> Value {
        loop {
            let msg = tokio::time::timeout(DEADLINE, self.ws.next())
                .await
                .expect("a frame before the deadline")
                .expect("socket open")
                .expect("frame");
            match msg {
                Message::Text(t) => return serde_json::from_str(&t).expect("server sends JSON"),
                Message::Close(c) => panic!("socket closed: {c:?}"),
                _ => continue,
            }
        }
    }

    /// Send `msg` with a fresh `request_id` and return the `ack`/`error` reply.
    pub async fn request(&mut self, mut msg: Value) -> Value {
        self.next_id += 1;
        let id = format!("r{}", self.next_id);
        msg["request_id"] = json!(id);
        self.send_raw(&msg.to_string()).await;
        self.reply_to(&id).await
    }

    /// Wait for the reply to `id`, queueing events that arrive first.
    pub async fn reply_to(&mut self, id: &str) -> Value {
        loop {
            let v = self.read().await;
            if (v["type"] == "ack" || v["type"] == "error") && v["request_id"] == id {
                return v;
            }
            if v["type"] == "ack" || v["type"] == "error" {
                panic!("reply to another request: {v}");
            }
            self.pending.push_back(v);
        }
    }

    /// Send and expect an ack.
    pub async fn ok(&mut self, msg: Value) -> Value {
        let r = self.request(msg.clone()).await;
        assert_eq!(r["type"], "ack", "{msg} was refused: {r}");
        r
    }

    /// Send and expect an error with `code`.
    pub async fn refused(&mut self, msg: Value, code: &str) {
        let r = self.request(msg.clone()).await;
        assert_eq!(r["type"], "error", "{msg} was accepted: {r}");
        assert_eq!(r["code"], code, "{msg}: {r}");
    }

    /// The next event (queued first).
    pub async fn next_event(&mut self) -> Value {
        if let Some(v) = self.pending.pop_front() {
            return v;
        }
        self.read().await
    }

    /// The next event of type `kind`, dropping others except those `keep` matches.
    pub async fn event_of(&mut self, kind: &str) -> Value {
        loop {
            let v = self.next_event().await;
            if v["type"] == kind {
                return v;
            }
        }
    }

    /// Events up to and including the first chat with `text`, keeping only `kinds`.
    pub async fn until_chat(&mut self, text: &str, kinds: &[&str]) -> Vec<Value> {
        let mut seen = Vec::new();
        loop {
            let v = self.next_event().await;
            let done = v["type"] == "chat" && v["text"] == text;
            if kinds.iter().any(|k| v["type"] == *k) {
                seen.push(v);
            }
            if done {
                return seen;
            }
        }
    }

    /// Join a room and return the ack.
    pub async fn join(&mut self, room: RoomId) -> Value {
        self.ok(json!({"type": "join", "room_id": room})).await
    }
}
