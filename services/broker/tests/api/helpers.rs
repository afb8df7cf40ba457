use futures_util::StreamExt;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tandem_broker::config::LivepeerSettings;
use tandem_broker::{Broker, BrokerSettings};
use tandem_shared::events::BusEvent;
use tandem_shared::ids::{Role, UserId};
use tandem_shared::jwt::KeyPair;
use tandem_shared::media_token::MediaKey;
use tandem_shared::redis::RedisHandle;
use tandem_shared::server::Core;
use tandem_shared::testing::{TestCore, TestServer};

pub struct TestApp {
    pub t: TestCore,
    pub server: TestServer,
    pub http: reqwest::Client,
    pub key: MediaKey,
    pub broker: Broker,
}

/// Settings for tests: relay media, long grace (rooms are not reaped unless a test wants it).
pub fn settings() -> BrokerSettings {
    let mut s = BrokerSettings::relay_defaults();
    s.reaper_interval = Duration::from_millis(100);
    s.livepeer_webhook_secret = Some(WEBHOOK_SECRET.into());
    s
}

pub const WEBHOOK_SECRET: &str = "whsec-test-secret";

/// Settings pointing the livepeer provider at a stand-in, with fast retries.
pub fn livepeer_settings(base: &str) -> BrokerSettings {
    let mut s = settings();
    let mut lp = LivepeerSettings::new(base, "test-key");
    lp.backoff = Duration::from_millis(10);
    lp.max_retries = 2;
    lp.max_retry_after = Duration::from_secs(3);
    s.livepeer = Some(lp);
    s
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(settings()).await
    }

    pub async fn spawn_with(settings: BrokerSettings) -> Self {
        Self::spawn_on(TestCore::new().await, settings).await
    }

    /// A broker on `t` (e.g. a core on the test's own Redis).
    pub async fn spawn_on(t: TestCore, settings: BrokerSettings) -> Self {
        t.core.hooks.set_users(Arc::new(tandem_auth::directory::Directory::new(t.core.db.clone())));
        let key = MediaKey::generate();
        let svc = tandem_broker::build(&t.core, settings, key.clone(), true).expect("broker builds");
        let broker = svc.broker().clone();
        let server = TestCore::spawn(&t.core, vec![Arc::new(svc)]);
        Self { t, server, http: reqwest::Client::new(), key, broker }
    }

    /// A second broker "node" on the same database and Redis prefix (reaper running, no HTTP).
    pub async fn second_node(&self, settings: BrokerSettings) -> (Core, Broker) {
        let prefix = self.t.core.redis.prefix().to_string();
        let core_settings = TestCore::settings(&self.t.database_url, &prefix);
        let db = tandem_shared::db::connect_and_migrate(&self.t.database_url, 5).await.expect("second pool");
        let redis = RedisHandle::connect(&core_settings.redis_url, &prefix).await.expect("second redis");
        let core = Core::from_parts(core_settings, db, redis, KeyPair::generate());
        core.hooks.set_users(Arc::new(tandem_auth::directory::Directory::new(core.db.clone())));
        let svc = tandem_broker::build(&core, settings, self.key.clone(), false).expect("second broker builds");
        let broker = svc.broker().clone();
        (core, broker)
    }

    pub fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    pub async fn user(&self, role: Role) -> User {
        let u = self.t.user(role).await;
        User { id: u.id, token: u.token, handle: u.handle }
    }

    pub async fn creator_online(&self) -> User {
        let c = self.user(Role::Creator).await;
        let res = self.put(&c, "/v1/presence", json!({"status": "online"})).await;
        assert_eq!(res.status(), 200);
        c
    }

    pub async fn post(&self, user: &User, path: &str, body: Value) -> reqwest::Response {
        self.http.post(self.url(path)).bearer_auth(&user.token).json(&body).send().await.expect("request sent")
    }

    pub async fn put(&self, user: &User, path: &str, body: Value) -> reqwest::Response {
        self.http.put(self.url(path)).bearer_auth(&user.token).json(&body).send().await.expect("request sent")
    }

    pub async fn get(&self, user: &User, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).bearer_auth(&user.token).send().await.expect("request sent")
    }

    pub async fn open_room(&self, creator: &User) -> Value {
        let res = self.post(creator, "/v1/rooms", json!({"title": "hello"})).await;
        assert_eq!(res.status(), 201);
        res.json().await.unwrap()
    }

    pub async fn request(&self, fan: &User, creator: &User) -> reqwest::Response {
        self.post(fan, "/v1/private-requests", json!({"creator_id": creator.id})).await
    }

    pub async fn request_id(&self, fan: &User, creator: &User) -> String {
        let res = self.request(fan, creator).await;
        assert_eq!(res.status(), 201);
        let body: Value = res.json().await.unwrap();
        body["id"].as_str().unwrap().to_string()
    }

    pub async fn room_row(&self, room_id: &str) -> Option<(String, Option<String>)> {
        sqlx::query_as("select status, end_reason from rooms where room_id = $1::uuid")
            .bind(room_id)
            .fetch_optional(&self.t.core.db)
            .await
            .unwrap()
    }

    /// Poll `check` until it returns Some, failing after `deadline`.
    pub async fn eventually<T, F, Fut>(&self, deadline: Duration, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let end = tokio::time::Instant::now() + deadline;
        loop {
            if let Some(v) = check().await {
                return v;
            }
            assert!(tokio::time::Instant::now() < end, "condition not met within {deadline:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Record every event published under this test's prefix.
    pub async fn events(&self) -> Events {
        let mut pubsub = self.t.core.redis.client.get_async_pubsub().await.expect("pubsub");
        pubsub.psubscribe(format!("{}*", self.t.core.redis.prefix())).await.expect("psubscribe");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        tokio::spawn(async move {
            let mut stream = pubsub.into_on_message();
            while let Some(msg) = stream.next().await {
                let channel = msg.get_channel_name().to_string();
                if let Ok(payload) = msg.get_payload::<String>() {
                    if let Ok(ev) = serde_json::from_str::<BusEvent>(&payload) {
                        sink.lock().unwrap().push((channel, ev));
                    }
                }
            }
        });
        Events { seen, prefix: self.t.core.redis.prefix().to_string() }
    }
}

pub struct User {
    pub id: UserId,
    pub token: String,
    #[allow(dead_code)]
    pub handle: String,
}

pub struct Events {
    seen: Arc<Mutex<Vec<(String, BusEvent)>>>,
    prefix: String,
}

impl Events {
    /// Events published on `suffix` (e.g. `user:<id>`, `room:<id>`).
    pub fn on(&self, suffix: &str) -> Vec<BusEvent> {
        let channel = format!("{}{}", self.prefix, suffix);
        self.seen.lock().unwrap().iter().filter(|(c, _)| *c == channel).map(|(_, e)| e.clone()).collect()
    }
}

pub async fn code_of(res: reqwest::Response) -> (u16, String) {
    let status = res.status().as_u16();
    let body: Value = res.json().await.expect("error bodies are JSON");
    (status, body["code"].as_str().unwrap_or_default().to_string())
}

/// The slot named `name` of a room view.
pub fn slot<'a>(room: &'a Value, name: &str) -> &'a Value {
    room["slots"].as_array().unwrap().iter().find(|s| s["name"] == name).expect("slot present")
}
