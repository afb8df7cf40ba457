//! Moderation end to end on two signaling nodes: node A runs the broker, the relay and
//! signaling in one process (in-process contracts); node B is signaling alone, reaching the
//! broker over internal HTTP (remote contracts). A banned user is taken out of the room on both
//! nodes, cannot rejoin on either, and their relay and Livepeer play tokens are refused; a muted
//! user's chat is refused with `muted`; a blocked word never reaches the room. Every action is
//! in the audit log.

use crate::helpers::{settings, Client};
use serde_json::{json, Value};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tandem_shared::contracts::{ai::RemoteAiControl, audit::RemoteAuditLog, rooms::RemoteRoomControl, InternalClient};
use tandem_shared::ids::{Role, SlotId};
use tandem_shared::media_token::MediaKey;
use tandem_shared::redis::RedisHandle;
use tandem_shared::service_auth::ServiceName;
use tandem_shared::testing::{redis_url, TestCore, TestServer, TestUser};
use tandem_signaling::service_with;

const LIVEPEER_SECRET: &str = "livepeer-webhook-secret-for-tests";

struct NoEvents;

#[async_trait::async_trait]
impl tandem_relay::SlotEvents for NoEvents {
    async fn publishing(&self, _slot: SlotId, _publishing: bool) {}
}

pub(crate) struct Deployment {
    pub t: TestCore,
    pub a: TestServer,
    pub b: TestServer,
    pub http: reqwest::Client,
}

impl Deployment {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A deployment whose core `tune` adjusts first (geo database, trusted proxies).
    pub async fn start_with(tune: impl FnOnce(&mut tandem_shared::server::Core)) -> Self {
        let mut t = TestCore::new().await;
        tune(&mut t.core);
        let users: Arc<dyn tandem_shared::hooks::UserDirectory> =
            Arc::new(tandem_auth::directory::Directory::new(t.core.db.clone()));
        t.core.hooks.set_users(users.clone());
        let key = MediaKey::generate();
        let mut bs = tandem_broker::BrokerSettings::relay_defaults();
        bs.livepeer_webhook_secret = Some(LIVEPEER_SECRET.into());
        bs.heartbeat_grace = Duration::from_secs(120);
        let broker = tandem_broker::build(&t.core, bs, key.clone(), false).expect("broker builds");
        t.core.hooks.set_audit(Arc::new(broker.broker().clone()));
        let relay_settings =
            tandem_relay::RelaySettings { hosts: vec!["127.0.0.1".parse().expect("ip")], ..Default::default() };
        let relay = tandem_relay::build(&t.core, relay_settings, key, Arc::new(NoEvents));
        let sig_a = service_with(&t.core, settings("node-a")).expect("node a builds");
        let a = TestCore::spawn(&t.core, vec![Arc::new(broker), Arc::new(relay), sig_a]);
        let mut core_b = t.core.clone();
        core_b.db = tandem_shared::db::connect(&t.database_url, 5).await.expect("second pool");
        core_b.redis = RedisHandle::connect(&redis_url(), t.core.redis.prefix()).await.expect("second redis");
        core_b.shutdown = t.core.shutdown.child_token();
        core_b.draining = Arc::new(AtomicBool::new(false));
        core_b.hooks = tandem_shared::hooks::Hooks::default();
        let client =
            InternalClient::new(&a.url(""), t.core.service_key.clone(), ServiceName::Signaling, ServiceName::Broker)
                .expect("client");
        core_b.hooks.set_rooms(Arc::new(RemoteRoomControl::new(client.clone())));
        core_b.hooks.set_ai(Arc::new(RemoteAiControl::new(client.clone())));
        core_b.hooks.set_audit(Arc::new(RemoteAuditLog::new(client)));
        core_b.hooks.set_users(users);
        let sig_b = service_with(&core_b, settings("node-b")).expect("node b builds");
        let b = TestCore::spawn(&core_b, vec![sig_b]);
        Self { t, a, b, http: reqwest::Client::new() }
    }

    pub async fn connect(&self, node: &TestServer, user: &TestUser) -> Client {
        Client::connect(&format!("ws://{}/v1/ws?access_token={}", node.addr, user.token)).await
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        user: &TestUser,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut req = self.http.request(method, self.a.url(path)).bearer_auth(&user.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("request sent")
    }

    /// The host slot's play token in `user`'s view of the room.
    pub async fn play_token(&self, user: &TestUser, room: &str) -> (String, String) {
        let res = self.call(reqwest::Method::GET, user, &format!("/v1/rooms/{room}"), None).await;
        assert_eq!(res.status(), 200);
        let view: Value = res.json().await.expect("json");
        let host = view["slots"].as_array().expect("slots").iter().find(|s| s["name"] == "host").expect("host slot");
        let url = host["play"]["whep_url"].as_str().expect("whep url");
        let path = url[url.find("/v1/relay/").expect("relay path")..].to_string();
        (path, host["play"]["token"].as_str().expect("token").to_string())
    }

    /// A WHEP request with `token`: the status and error code.
    async fn whep(&self, path: &str, token: &str) -> (u16, String) {
        let res = self
            .http
            .post(self.a.url(path))
            .bearer_auth(token)
            .header("content-type", "application/sdp")
            .body("v=0\r\n")
            .send()
            .await
            .expect("whep sent");
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        (status, body["code"].as_str().unwrap_or_default().to_string())
    }

    /// Livepeer's access-control call for a viewer presenting `token`: the status.
    async fn livepeer_access(&self, token: &str) -> u16 {
        let t = chrono::Utc::now().timestamp_millis();
        let body = json!({"accessKey": token, "timestamp": t, "context": {}}).to_string();
        let sig = tandem_broker::provider::livepeer::sign_webhook(LIVEPEER_SECRET, body.as_bytes(), t);
        self.http
            .post(self.a.url("/v1/webhooks/livepeer/access"))
            .header("livepeer-signature", sig)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("access sent")
            .status()
            .as_u16()
    }

    pub async fn audit_actions(&self, operator: &TestUser) -> Vec<String> {
        let res = self.call(reqwest::Method::GET, operator, "/v1/admin/audit", None).await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.expect("json");
        body["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .map(|e| e["action"].as_str().unwrap_or("").to_string())
            .collect()
    }
}

/// The next event of `kind` within a second.
async fn within_a_second(c: &mut Client, kind: &str) -> Value {
    let started = Instant::now();
    let ev = tokio::time::timeout(Duration::from_secs(1), c.event_of(kind)).await.expect("within a second");
    assert!(started.elapsed() < Duration::from_secs(1));
    ev
}

#[tokio::test]
async fn a_banned_user_leaves_the_room_on_both_nodes_within_a_second_and_cannot_come_back_or_play() {
    let d = Deployment::start().await;
    let host = d.t.user(Role::Creator).await;
    let bad = d.t.user(Role::Fan).await;
    let other = d.t.user(Role::Fan).await;
    let operator = d.t.user(Role::Operator).await;
    let res = d.call(reqwest::Method::POST, &host, "/v1/rooms", Some(json!({"title": "live"}))).await;
    assert_eq!(res.status(), 201);
    let room = res.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_string();

    let mut h = d.connect(&d.a, &host).await;
    h.ok(json!({"type": "join", "room_id": room})).await;
    // The user to ban has a socket on each node; a bystander watches from node B.
    let mut bad_a = d.connect(&d.a, &bad).await;
    let mut bad_b = d.connect(&d.b, &bad).await;
    bad_a.ok(json!({"type": "join", "room_id": room})).await;
    bad_b.ok(json!({"type": "join", "room_id": room})).await;
    let mut o = d.connect(&d.b, &other).await;
    o.ok(json!({"type": "join", "room_id": room})).await;

    // Before the ban their play token works at the relay (no 403: it gets past every check) and
    // at Livepeer's access control.
    let (whep, token) = d.play_token(&bad, &room).await;
    let (status, code) = d.whep(&whep, &token).await;
    assert_ne!(status, 403, "{code}");
    assert_eq!(d.livepeer_access(&token).await, 204);

    h.ok(json!({"type": "mod.ban", "user_id": bad.id, "reason": "spamming links"})).await;
    for c in [&mut bad_a, &mut bad_b] {
        let ev = within_a_second(c, "member.removed").await;
        assert_eq!(ev["user_id"], json!(bad.id));
        assert_eq!(ev["removal"], "banned");
        assert!(ev.get("reason").is_none(), "no reason is leaked: {ev}");
    }
    let seen = within_a_second(&mut o, "member.removed").await;
    assert_eq!(seen["removal"], "banned");
    assert!(seen.get("reason").is_none());

    // Out of the room on both sockets, and refused when coming back on either node.
    bad_a.refused(json!({"type": "chat", "text": "hello?"}), "not_in_room").await;
    bad_b.refused(json!({"type": "chat", "text": "hello?"}), "not_in_room").await;
    bad_a.refused(json!({"type": "join", "room_id": room}), "banned").await;
    bad_b.refused(json!({"type": "join", "room_id": room}), "banned").await;
    let fresh = d.call(reqwest::Method::GET, &bad, &format!("/v1/rooms/{room}"), None).await;
    assert_eq!(fresh.status(), 403);
    assert_eq!(fresh.json::<Value>().await.expect("json")["code"], "banned");

    // The tokens issued before the ban stop working at the relay and on Livepeer.
    assert_eq!(d.whep(&whep, &token).await, (403, "banned".to_string()));
    assert_eq!(d.livepeer_access(&token).await, 403);

    // The bystander still plays and chats.
    let (_, other_token) = d.play_token(&other, &room).await;
    assert_eq!(d.livepeer_access(&other_token).await, 204);
    o.ok(json!({"type": "chat", "text": "still here"})).await;

    // The creator's next room keeps them out too; a kick lets someone back in.
    let actions = d.audit_actions(&operator).await;
    assert!(actions.contains(&"ban".to_string()), "{actions:?}");
    h.ok(json!({"type": "mod.kick", "user_id": other.id, "reason": "cool down"})).await;
    let kicked = within_a_second(&mut o, "member.removed").await;
    assert_eq!(kicked["removal"], "kicked");
    o.refused(json!({"type": "chat", "text": "back?"}), "not_in_room").await;
    o.ok(json!({"type": "join", "room_id": room})).await;
    let actions = d.audit_actions(&operator).await;
    assert!(actions.contains(&"kick".to_string()), "{actions:?}");

    // Only the host or an operator moderates.
    o.refused(json!({"type": "mod.kick", "user_id": host.id, "reason": "no"}), "forbidden").await;

    // An operator ending someone's room is audited too.
    let res = d.call(reqwest::Method::POST, &operator, &format!("/v1/rooms/{room}/end"), None).await;
    assert_eq!(res.status(), 200);
    let actions = d.audit_actions(&operator).await;
    assert!(actions.contains(&"room_ended".to_string()), "{actions:?}");
}

#[tokio::test]
async fn a_muted_user_is_refused_with_muted_and_blocked_words_and_slow_mode_keep_lines_out_of_the_room() {
    let d = Deployment::start().await;
    let host = d.t.user(Role::Creator).await;
    let loud = d.t.user(Role::Fan).await;
    let watcher = d.t.user(Role::Fan).await;
    let operator = d.t.user(Role::Operator).await;
    let res = d.call(reqwest::Method::POST, &host, "/v1/rooms", Some(json!({"title": "chatty"}))).await;
    assert_eq!(res.status(), 201);
    let room = res.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_string();
    // The host moderates from node B: the remote contract.
    let mut h = d.connect(&d.b, &host).await;
    h.ok(json!({"type": "join", "room_id": room})).await;
    let mut l = d.connect(&d.b, &loud).await;
    l.ok(json!({"type": "join", "room_id": room})).await;
    let mut w = d.connect(&d.a, &watcher).await;
    w.ok(json!({"type": "join", "room_id": room})).await;

    // Mute: refused with `muted` at once, on the muted user's node.
    h.ok(json!({"type": "mod.mute", "user_id": loud.id, "reason": "shouting", "minutes": 5})).await;
    let muted = within_a_second(&mut l, "member.muted").await;
    assert_eq!(muted["muted"], true);
    assert!(muted.get("reason").is_none());
    l.refused(json!({"type": "chat", "text": "LET ME TALK"}), "muted").await;
    h.ok(json!({"type": "mod.unmute", "user_id": loud.id, "reason": "calmer now"})).await;
    within_a_second(&mut l, "member.muted").await;
    l.ok(json!({"type": "chat", "text": "thanks"})).await;

    // A blocked word never reaches the room.
    let res = d
        .call(
            reqwest::Method::PUT,
            &host,
            "/v1/creator/safety",
            Some(json!({"blocked_words": ["Forbidden Phrase", "slur"], "slow_mode_secs": 0})),
        )
        .await;
    assert_eq!(res.status(), 200);
    within_a_second(&mut l, "room.policy").await;
    l.refused(json!({"type": "chat", "text": "this is a SLUR!"}), "blocked").await;
    l.refused(json!({"type": "chat", "text": "a forbidden-phrase here"}), "blocked").await;
    l.ok(json!({"type": "chat", "text": "clean line"})).await;
    let chats = w.until_chat("clean line", &["chat"]).await;
    assert!(chats.iter().all(|c| c["text"] == "thanks" || c["text"] == "clean line"), "{chats:?}");

    // Slow mode: a second line within the interval is refused; the host is exempt.
    let res = d.call(reqwest::Method::PUT, &host, "/v1/creator/safety", Some(json!({"slow_mode_secs": 30}))).await;
    assert_eq!(res.status(), 200);
    within_a_second(&mut l, "room.policy").await;
    l.ok(json!({"type": "chat", "text": "one"})).await;
    l.refused(json!({"type": "chat", "text": "two"}), "slow_mode").await;
    h.ok(json!({"type": "chat", "text": "host 1"})).await;
    h.ok(json!({"type": "chat", "text": "host 2"})).await;

    let actions = d.audit_actions(&operator).await;
    for a in ["mute", "unmute", "safety_settings_changed"] {
        assert!(actions.contains(&a.to_string()), "{a} missing from {actions:?}");
    }
}

#[tokio::test]
async fn reports_reach_the_operator_queue_and_each_decision_is_acted_on_and_audited() {
    let d = Deployment::start().await;
    let host = d.t.user(Role::Creator).await;
    let troll = d.t.user(Role::Fan).await;
    let reporter = d.t.user(Role::Fan).await;
    let operator = d.t.user(Role::Operator).await;
    let res = d.call(reqwest::Method::POST, &host, "/v1/rooms", Some(json!({"title": "reported"}))).await;
    assert_eq!(res.status(), 201);
    let room = res.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_string();
    let mut t = d.connect(&d.b, &troll).await;
    t.ok(json!({"type": "join", "room_id": room})).await;

    let report = |body: Value| d.call(reqwest::Method::POST, &reporter, "/v1/abuse-reports", Some(body));
    let res = report(json!({"target": "message", "user_id": troll.id, "room_id": room, "message": "nasty words", "reason": "harassment"})).await;
    assert_eq!(res.status(), 201);
    let message_report = res.json::<Value>().await.expect("json")["report_id"].as_str().expect("id").to_string();
    let res = report(json!({"target": "room", "room_id": room, "reason": "off-topic stream"})).await;
    assert_eq!(res.status(), 201);
    let room_report = res.json::<Value>().await.expect("json")["report_id"].as_str().expect("id").to_string();
    let res = report(json!({"target": "user", "user_id": host.id, "reason": "meh"})).await;
    let host_report = res.json::<Value>().await.expect("json")["report_id"].as_str().expect("id").to_string();
    assert_eq!(report(json!({"target": "user", "reason": "no one"})).await.status(), 400);

    // Only operators see the queue; oldest first.
    assert_eq!(d.call(reqwest::Method::GET, &reporter, "/v1/admin/reports", None).await.status(), 403);
    let queue: Value =
        d.call(reqwest::Method::GET, &operator, "/v1/admin/reports", None).await.json().await.expect("json");
    let ids: Vec<&str> =
        queue["reports"].as_array().expect("reports").iter().filter_map(|r| r["report_id"].as_str()).collect();
    assert_eq!(ids, vec![message_report.as_str(), room_report.as_str(), host_report.as_str()]);

    // Ban platform-wide: the troll leaves the room and cannot join any room.
    let decide = |id: &str, body: Value| {
        let path = format!("/v1/admin/reports/{id}");
        let (d, operator) = (&d, &operator);
        async move { d.call(reqwest::Method::POST, operator, &path, Some(body)).await }
    };
    let res = decide(&message_report, json!({"decision": "ban_platform", "reason": "repeated harassment"})).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.expect("json")["status"], "actioned");
    assert_eq!(within_a_second(&mut t, "member.removed").await["removal"], "banned");
    t.refused(json!({"type": "join", "room_id": room}), "banned").await;
    assert_eq!(decide(&message_report, json!({"decision": "dismiss", "reason": "again"})).await.status(), 409);
    // End the room; dismiss the last.
    assert_eq!(
        decide(&room_report, json!({"decision": "end_room", "reason": "against the rules"})).await.status(),
        200
    );
    let view: Value =
        d.call(reqwest::Method::GET, &host, &format!("/v1/rooms/{room}"), None).await.json().await.expect("json");
    assert_eq!(view["status"], "ended");
    assert_eq!(decide(&host_report, json!({"decision": "dismiss", "reason": "nothing wrong"})).await.status(), 200);

    let actions = d.audit_actions(&operator).await;
    for a in ["platform_ban", "room_ended", "report_dismissed"] {
        assert!(actions.contains(&a.to_string()), "{a} missing from {actions:?}");
    }
    let queue: Value =
        d.call(reqwest::Method::GET, &operator, "/v1/admin/reports", None).await.json().await.expect("json");
    assert!(queue["reports"].as_array().expect("reports").is_empty());
}
