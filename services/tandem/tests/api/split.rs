//! The split topology: every service its own OS process (two signaling processes), wired only by
//! their internal URLs and the shared service secret, against one database and Redis prefix.
//! Clients talk to each service directly, as the ingress would route them.

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tandem_shared::testing::{redis_url, TestCore};
use tokio_tungstenite::tungstenite::Message;

/// Lock TTL for the test: heartbeats must keep the lock past it.
const LOCK_SECS: u64 = 4;

struct Split {
    t: TestCore,
    children: Vec<(String, Child)>,
    ports: HashMap<&'static str, u16>,
    data_dir: PathBuf,
    http: reqwest::Client,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Split {
    async fn start() -> Self {
        let t = TestCore::new().await;
        let data_dir = std::env::temp_dir().join(format!("tandem-split-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&data_dir).unwrap();
        let names = ["auth", "broker", "signaling-a", "signaling-b", "billing", "relay"];
        let ports: HashMap<&'static str, u16> = names.iter().map(|n| (*n, free_port())).collect();
        let url = |n: &str| format!("http://127.0.0.1:{}", ports[n]);
        let bins = [
            ("auth", env!("CARGO_BIN_EXE_tandem-auth")),
            ("broker", env!("CARGO_BIN_EXE_tandem-broker")),
            ("signaling-a", env!("CARGO_BIN_EXE_tandem-signaling")),
            ("signaling-b", env!("CARGO_BIN_EXE_tandem-signaling")),
            ("billing", env!("CARGO_BIN_EXE_tandem-billing")),
            ("relay", env!("CARGO_BIN_EXE_tandem-relay")),
        ];
        let mut split = Self { t, children: Vec::new(), ports: ports.clone(), data_dir, http: reqwest::Client::new() };
        // Auth first: it generates the signing key every other process then reads.
        for (name, bin) in bins {
            let log = std::fs::File::create(split.data_dir.join(format!("{name}.log"))).unwrap();
            let child = Command::new(bin)
                .env("TANDEM_ADDR", format!("127.0.0.1:{}", ports[name]))
                // Media URLs handed to clients point at the relay process.
                .env("TANDEM_PUBLIC_URL", url("relay"))
                .env("DATABASE_URL", &split.t.database_url)
                .env("REDIS_URL", redis_url())
                .env("TANDEM_REDIS_PREFIX", split.t.core.redis.prefix())
                .env("TANDEM_DATA_DIR", &split.data_dir)
                .env("TANDEM_WORKERS", "1")
                .env("TANDEM_DB_MAX_CONNECTIONS", "4")
                .env("TANDEM_AUTH_URL", url("auth"))
                .env("TANDEM_BROKER_URL", url("broker"))
                .env("TANDEM_BILLING_URL", url("billing"))
                .env("TANDEM_DEV_TOPUPS", "1")
                .env("TANDEM_DEV_VERIFIED_SIGNUPS", "1")
                .env("TANDEM_AVAILABILITY_LOCK_SECS", LOCK_SECS.to_string())
                .env("TANDEM_HEARTBEAT_GRACE_SECS", "3")
                .env("SIGNALING_NODE_ID", name)
                .env_remove("TANDEM_SERVICE_SECRET")
                .env_remove("STRIPE_SECRET_KEY")
                .env_remove("LIVEPEER_API_KEY")
                .env_remove("DAYDREAM_API_KEY")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("a service binary starts");
            split.children.push((name.to_string(), child));
            if name == "auth" {
                split.wait_healthy(name).await;
            }
        }
        for name in names {
            split.wait_healthy(name).await;
        }
        split
    }

    fn url(&self, service: &str, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.ports[service])
    }

    fn logs(&self) -> String {
        self.children
            .iter()
            .map(|(n, _)| {
                format!(
                    "--- {n}\n{}",
                    std::fs::read_to_string(self.data_dir.join(format!("{n}.log"))).unwrap_or_default()
                )
            })
            .collect()
    }

    async fn wait_healthy(&mut self, name: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let exited = self.children.iter_mut().find_map(|(n, child)| {
                child.try_wait().ok().flatten().map(|status| format!("{n} exited with {status}"))
            });
            if let Some(exited) = exited {
                panic!("{exited}:\n{}", self.logs());
            }
            if let Ok(res) = self.http.get(self.url(name, "/healthz")).send().await {
                if res.status().is_success() {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "{name} is not healthy after 60s:\n{}", self.logs());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        service: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, self.url(service, path)).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn signup(&self, handle: &str, role: &str) -> (String, String) {
        let body = json!({"email": format!("{handle}@example.com"), "password": "correct horse battery", "handle": handle, "role": role});
        let res = self.http.post(self.url("auth", "/v1/auth/signup")).json(&body).send().await.unwrap();
        assert_eq!(res.status(), 201);
        let v: Value = res.json().await.unwrap();
        (v["user"]["user_id"].as_str().unwrap().to_string(), v["access_token"].as_str().unwrap().to_string())
    }

    async fn balance(&self, token: &str) -> i64 {
        let (status, v) = self.call(reqwest::Method::GET, "billing", "/v1/wallet", token, None).await;
        assert_eq!(status, 200, "{v}");
        v["balance"].as_i64().unwrap()
    }
}

impl Drop for Split {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Socket {
    ws: Ws,
    next: u64,
    events: Vec<Value>,
}

impl Socket {
    async fn connect(split: &Split, node: &str, token: &str) -> Self {
        let url = format!("ws://127.0.0.1:{}/v1/ws?access_token={token}", split.ports[node]);
        let (ws, _) = tokio_tungstenite::connect_async(url).await.expect("the socket opens");
        let mut s = Self { ws, next: 0, events: Vec::new() };
        let welcome = s.read().await;
        assert_eq!(welcome["type"], "welcome");
        s
    }

    async fn read(&mut self) -> Value {
        loop {
            let msg =
                tokio::time::timeout(Duration::from_secs(10), self.ws.next()).await.expect("a frame").unwrap().unwrap();
            if let Message::Text(t) = msg {
                return serde_json::from_str(&t).unwrap();
            }
        }
    }

    /// Send `msg` and return its ack or error, keeping other events.
    async fn request(&mut self, mut msg: Value) -> Value {
        self.next += 1;
        let id = format!("r{}", self.next);
        msg["request_id"] = json!(id);
        self.ws.send(Message::text(msg.to_string())).await.unwrap();
        loop {
            let v = self.read().await;
            if v["request_id"] == id {
                return v;
            }
            self.events.push(v);
        }
    }

    async fn ok(&mut self, msg: Value) -> Value {
        let r = self.request(msg.clone()).await;
        assert_eq!(r["type"], "ack", "{msg} was refused: {r}");
        r
    }

    async fn event(&mut self, kind: &str) -> Value {
        if let Some(i) = self.events.iter().position(|e| e["type"] == kind || e["event"] == kind) {
            return self.events.remove(i);
        }
        loop {
            let v = self.read().await;
            if v["type"] == kind || v["event"] == kind {
                return v;
            }
            self.events.push(v);
        }
    }
}

#[tokio::test]
async fn the_split_topology_behaves_like_tandem_serve() {
    use reqwest::Method;
    let s = Split::start().await;
    let (creator, ct) = s.signup("split_cara", "creator").await;
    let (_fan, ft) = s.signup("split_finn", "fan").await;
    let (_other, ot) = s.signup("split_olga", "fan").await;

    // The creator charges 100 a minute (billing) and goes online (broker).
    let (st, v) =
        s.call(Method::PUT, "billing", "/v1/creator/pricing", &ct, Some(json!({"price_per_minute": 100}))).await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = s.call(Method::PUT, "broker", "/v1/presence", &ct, Some(json!({"status": "online"}))).await;
    assert_eq!(st, 200, "{v}");

    // A fan who cannot pay the first minute: the broker asks billing in another process, 402.
    let ask = json!({"creator_id": creator});
    let (st, v) = s.call(Method::POST, "broker", "/v1/private-requests", &ft, Some(ask.clone())).await;
    assert_eq!((st, v["code"].as_str()), (402, Some("insufficient_funds")), "{v}");

    // Topped up, the request is quoted and the first minute is charged at accept.
    let (st, v) = s.call(Method::POST, "billing", "/v1/dev/wallet/top-ups", &ft, Some(json!({"amount": 1000}))).await;
    assert!(st == 200 || st == 201, "{v}");
    let (st, req) = s.call(Method::POST, "broker", "/v1/private-requests", &ft, Some(ask.clone())).await;
    assert_eq!(st, 201, "{req}");
    let rid = req["id"].as_str().unwrap();
    // The creator raises the price before accepting: the fan pays what they were quoted.
    let raise = json!({"price_per_minute": 10_000});
    let (st, v) = s.call(Method::PUT, "billing", "/v1/creator/pricing", &ct, Some(raise)).await;
    assert_eq!(st, 200, "{v}");
    let (st, acc) = s.call(Method::POST, "broker", &format!("/v1/private-requests/{rid}/accept"), &ct, None).await;
    assert_eq!(st, 200, "{acc}");
    let room = acc["room"]["id"].as_str().unwrap().to_string();
    assert_eq!(s.balance(&ft).await, 900, "the first minute is charged at accept, at the quoted price");

    // Both join over different signaling processes; heartbeats keep the creator's lock past its TTL.
    let mut fan_ws = Socket::connect(&s, "signaling-a", &ft).await;
    let mut creator_ws = Socket::connect(&s, "signaling-b", &ct).await;
    fan_ws.ok(json!({"type": "join", "room_id": room})).await;
    creator_ws.ok(json!({"type": "join", "room_id": room})).await;
    let until = Instant::now() + Duration::from_secs(LOCK_SECS * 2);
    while Instant::now() < until {
        creator_ws.ok(json!({"type": "heartbeat"})).await;
        fan_ws.ok(json!({"type": "heartbeat"})).await;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    let (st, v) = s.call(Method::POST, "broker", "/v1/private-requests", &ot, Some(ask.clone())).await;
    assert_eq!((st, v["code"].as_str()), (409, Some("creator_busy")), "the lock outlived its TTL: {v}");
    let (st, v) = s.call(Method::GET, "broker", &format!("/v1/rooms/{room}"), &ft, None).await;
    assert_eq!((st, v["status"].as_str()), (200, Some("live")), "{v}");

    // A tip over signaling is charged once by billing and announced by billing.
    let before = s.balance(&ft).await;
    fan_ws.ok(json!({"type": "tip", "amount": 50})).await;
    let tip = creator_ws.event("tip").await;
    assert!(tip.to_string().contains("50"), "{tip}");
    assert_eq!(s.balance(&ft).await, before - 50, "debited exactly once");
    let (st, earnings) = s.call(Method::GET, "billing", "/v1/creator/earnings", &ct, None).await;
    assert_eq!(st, 200, "{earnings}");
    // 80% of the first minute (100) and of the tip (50).
    assert_eq!(
        (earnings["balance"].as_i64(), earnings["by_day"][0]["tips"].as_i64()),
        (Some(120), Some(1)),
        "{earnings}"
    );

    // Ending the room releases both slots on the relay process: old tokens get 410.
    let (_, view) = s.call(Method::GET, "broker", &format!("/v1/rooms/{room}"), &ft, None).await;
    let play =
        view["slots"].as_array().unwrap().iter().find_map(|sl| sl.get("play").cloned()).expect("a play endpoint");
    let (st, v) = s.call(Method::POST, "broker", &format!("/v1/rooms/{room}/end"), &ft, None).await;
    assert_eq!((st, v["status"].as_str()), (200, Some("ended")), "{v}");
    let whep = play["whep_url"].as_str().or(play["url"].as_str()).expect("a WHEP URL").to_string();
    let token = play["token"].as_str().expect("a play token").to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let res = s
            .http
            .post(&whep)
            .bearer_auth(&token)
            .header("content-type", "application/sdp")
            .body("v=0\r\n")
            .send()
            .await
            .unwrap();
        let st = res.status().as_u16();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if st == 410 {
            assert_eq!(body["code"], "slot_released");
            break;
        }
        assert!(Instant::now() < deadline, "the relay still accepts the ended room's token: {st} {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // stage.accept hands the guest slot of a broadcast over, across processes.
    let open = json!({"title": "split show", "ai": {"prompt": "split dream"}});
    let (st, b) = s.call(Method::POST, "broker", "/v1/rooms", &ct, Some(open)).await;
    assert_eq!((st, b["ai"]["mode"].as_str()), (201, Some("local")), "{b}");
    let broadcast = b["id"].as_str().unwrap().to_string();
    let mut viewer_ws = Socket::connect(&s, "signaling-a", &ot).await;
    viewer_ws.ok(json!({"type": "join", "room_id": broadcast})).await;
    creator_ws.ok(json!({"type": "join", "room_id": broadcast})).await;

    // AI over the remote contract: a proposal on one signaling process, applied by the host on
    // the other, reaches the broker's state and every member.
    let p = viewer_ws.ok(json!({"type": "prompt.propose", "text": "split gold"})).await["data"]["proposal_id"].clone();
    creator_ws.ok(json!({"type": "prompt.apply", "proposal_id": p})).await;
    assert_eq!(viewer_ws.event("prompt.applied").await["prompt"], "split gold");
    assert_eq!(viewer_ws.event("ai.updated").await["prompt"], "split gold");
    let (_, seen) = s.call(Method::GET, "broker", &format!("/v1/rooms/{broadcast}"), &ot, None).await;
    assert_eq!(seen["ai"]["prompt"], "split gold", "{seen}");
    let other_id = {
        let (_, me) = s.call(Method::GET, "auth", "/v1/me", &ot, None).await;
        me["user_id"].as_str().unwrap().to_string()
    };
    creator_ws.ok(json!({"type": "stage.invite", "user_id": other_id})).await;
    viewer_ws.event("stage.invite").await;
    viewer_ws.ok(json!({"type": "stage.accept"})).await;
    let (_, seen) = s.call(Method::GET, "broker", &format!("/v1/rooms/{broadcast}"), &ot, None).await;
    assert_eq!(seen["your_role"], "guest", "{seen}");

    // The ledger balances across all of it.
    let (st, check) = s.call(Method::GET, "billing", "/v1/admin/ledger-check", &ct, None).await;
    assert!(st == 403 || st == 200, "{check}");
    let report = tandem_billing::ledger_check(&s.t.core.db).await.unwrap();
    assert!(report.is_ok(), "{report}");
}

#[tokio::test]
async fn a_service_binary_without_the_urls_it_needs_refuses_to_start() {
    let t = TestCore::new().await;
    let out = Command::new(env!("CARGO_BIN_EXE_tandem-signaling"))
        .env("TANDEM_ADDR", format!("127.0.0.1:{}", free_port()))
        .env("DATABASE_URL", &t.database_url)
        .env("REDIS_URL", redis_url())
        .env("TANDEM_REDIS_PREFIX", t.core.redis.prefix())
        .env("TANDEM_AUTH_URL", "http://127.0.0.1:1")
        .env("TANDEM_BROKER_URL", "http://127.0.0.1:1")
        .env_remove("TANDEM_BILLING_URL")
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("TANDEM_BILLING_URL"), "the message names the variable: {err}");
}
