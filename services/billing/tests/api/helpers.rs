use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sqlx::PgPool;
use std::sync::Arc;
use tandem_billing::clock::ManualClock;
use tandem_billing::config::BillingSettings;
use tandem_billing::Billing;
use tandem_shared::hooks::{RoomControl, RoomKind, RoomSummary};
use tandem_shared::ids::{Role, RoomId, UserId};
use tandem_shared::redis::RedisHandle;
use tandem_shared::server::Core;
use tandem_shared::testing::{RoomCall, StandInRooms, TestCore, TestServer};

pub const WEBHOOK_SECRET: &str = "whsec_test_standin_secret";

pub struct TestApp {
    pub t: TestCore,
    pub billing: Billing,
    pub server: TestServer,
    pub http: reqwest::Client,
    pub clock: ManualClock,
    pub rooms: Arc<RecordingRooms>,
}

/// Settings for tests: dev top-ups on, Stripe pointed at `stripe_base` (if any), 80/20 split.
pub fn settings(core: &Core, stripe_base: Option<&str>) -> BillingSettings {
    let mut s = BillingSettings::from_env(&core.settings).expect("default billing settings");
    s.dev_topups = true;
    s.creator_share_bps = 8_000;
    s.topup.min = 100;
    s.topup.max = 50_000;
    s.topup_daily_max = 100_000;
    s.price.min = 0;
    s.price.max = 10_000;
    s.default_price = 0;
    s.tip.min = 1;
    s.tip.max = 100_000;
    s.payout_min = 100;
    s.payout_hold = std::time::Duration::from_secs(7 * 24 * 3600);
    s.stripe.secret_key = stripe_base.map(|_| crate::stripe_standin::SECRET_KEY.to_string());
    s.stripe.api_base = stripe_base.map(str::to_string);
    s.stripe.webhook_secret = Some(WEBHOOK_SECRET.into());
    s
}

/// The current time at microsecond precision (what PostgreSQL stores).
pub fn now_micros() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).expect("valid time")
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(None).await
    }

    pub async fn spawn_with(stripe_base: Option<&str>) -> Self {
        Self::spawn_tuned(stripe_base, |_| {}).await
    }

    /// A billing service whose settings `tune` adjusts.
    pub async fn spawn_tuned(stripe_base: Option<&str>, tune: impl FnOnce(&mut BillingSettings)) -> Self {
        let t = TestCore::new().await;
        let clock = ManualClock::new(now_micros());
        let mut s = settings(&t.core, stripe_base);
        tune(&mut s);
        let billing = Billing::new(&t.core, s, Arc::new(clock.clone())).expect("billing");
        let svc = tandem_billing::service_with(billing.clone(), false);
        let rooms = RecordingRooms::install(&t.core);
        t.core.hooks.set_users(Arc::new(tandem_auth::directory::Directory::new(t.core.db.clone())));
        let server = TestCore::spawn(&t.core, vec![svc]);
        Self { t, billing, server, http: reqwest::Client::new(), clock, rooms }
    }

    /// A second "node": its own pool, Redis connection and hooks on the same database and prefix.
    pub async fn node(&self) -> (Core, Billing) {
        let core = second_core(&self.t).await;
        let billing =
            Billing::new(&core, settings(&core, None), Arc::new(self.clock.clone())).expect("billing on node 2");
        let _ = tandem_billing::service_with(billing.clone(), false);
        RecordingRooms::install_shared(&core, self.rooms.clone());
        core.hooks.set_users(Arc::new(tandem_auth::directory::Directory::new(core.db.clone())));
        (core, billing)
    }

    pub fn db(&self) -> &PgPool {
        &self.t.core.db
    }

    pub fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    pub async fn user(&self, role: Role) -> (UserId, String) {
        let u = self.t.user(role).await;
        (u.id, u.token)
    }

    pub async fn room(&self, kind: &str, host: UserId, guest: Option<UserId>, created_at: DateTime<Utc>) -> RoomId {
        let kind = if kind == "private" { RoomKind::Private } else { RoomKind::Broadcast };
        self.rooms.stand_in.open(kind, host, guest, created_at)
    }

    /// When the stand-in broker opened `room`.
    pub fn started(&self, room: RoomId) -> DateTime<Utc> {
        self.rooms.stand_in.get(room).expect("a stand-in room").created_at
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> reqwest::Response {
        self.http.post(self.url(path)).bearer_auth(token).json(&body).send().await.expect("request sent")
    }

    pub async fn get(&self, path: &str, token: &str) -> Value {
        let res = self.http.get(self.url(path)).bearer_auth(token).send().await.expect("request sent");
        assert_eq!(res.status(), 200, "GET {path}");
        res.json().await.expect("JSON")
    }

    pub async fn dev_top_up(&self, token: &str, amount: i64) {
        let res = self.post("/v1/dev/wallet/top-ups", token, json!({"amount": amount})).await;
        assert_eq!(res.status(), 200, "dev top-up");
    }

    pub async fn balance(&self, token: &str) -> i64 {
        self.get("/v1/wallet", token).await["balance"].as_i64().expect("balance")
    }

    pub async fn assert_ledger_ok(&self) {
        let report = tandem_billing::ledger_check(self.db()).await.expect("ledger check runs");
        assert!(report.is_ok(), "ledger inconsistent: {report:?}");
    }
}

pub async fn second_core(t: &TestCore) -> Core {
    let prefix = t.core.redis.prefix().to_string();
    let pool = tandem_shared::db::connect_and_migrate(&t.database_url, 5).await.expect("second pool");
    let redis = RedisHandle::connect(&tandem_shared::testing::redis_url(), &prefix).await.expect("redis");
    Core::from_parts(TestCore::settings(&t.database_url, &prefix), pool, redis, tandem_shared::jwt::KeyPair::generate())
}

/// A broker stand-in: rooms in memory ([`StandInRooms`]); `end_room` ends the room like the
/// broker does (records the end, then settles billing through the payment gate).
pub struct RecordingRooms {
    pub stand_in: StandInRooms,
}

struct Installed {
    inner: Arc<RecordingRooms>,
    core: Core,
}

impl RecordingRooms {
    fn install(core: &Core) -> Arc<Self> {
        let rooms = Arc::new(Self { stand_in: StandInRooms::default() });
        Self::install_shared(core, rooms.clone());
        rooms
    }

    fn install_shared(core: &Core, rooms: Arc<Self>) {
        core.hooks.set_rooms(Arc::new(Installed { inner: rooms, core: core.clone() }));
    }

    /// The `end_room` calls: room and reason.
    pub fn calls(&self) -> Vec<(RoomId, String)> {
        self.stand_in
            .calls()
            .into_iter()
            .filter_map(|c| match c {
                RoomCall::End(room, reason) => Some((room, reason)),
                _ => None,
            })
            .collect()
    }
}

#[async_trait::async_trait]
impl RoomControl for Installed {
    async fn room(&self, room: RoomId) -> anyhow::Result<Option<RoomSummary>> {
        self.inner.stand_in.room(room).await
    }

    async fn released_slots(
        &self,
        slots: &[tandem_shared::ids::SlotId],
    ) -> anyhow::Result<Vec<tandem_shared::ids::SlotId>> {
        self.inner.stand_in.released_slots(slots).await
    }

    async fn end_room(&self, room: RoomId, reason: &str) -> anyhow::Result<bool> {
        let ended = self.inner.stand_in.end_room(room, reason).await?;
        if ended {
            if let Some(gate) = self.core.hooks.payment() {
                gate.end_private(room).await?;
            }
        }
        Ok(ended)
    }

    async fn heartbeat(&self, _room: RoomId, _user: UserId) -> anyhow::Result<()> {
        Ok(())
    }
}

pub async fn code_of(res: reqwest::Response) -> (u16, String) {
    let status = res.status().as_u16();
    let body: Value = res.json().await.expect("error bodies are JSON");
    (status, body["code"].as_str().unwrap_or_default().to_string())
}

impl TestApp {
    /// The manual clock as Unix seconds.
    pub fn clock_now(&self) -> i64 {
        use tandem_billing::clock::Clock;
        self.clock.now().timestamp()
    }
}

pub trait ClockExt {
    fn now_ts(&self) -> DateTime<Utc>;
}

impl ClockExt for ManualClock {
    fn now_ts(&self) -> DateTime<Utc> {
        use tandem_billing::clock::Clock;
        self.now()
    }
}
