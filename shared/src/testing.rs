//! Test support: every test gets its own database (built from the migrations) and its own
//! Redis key prefix, and both are removed when the test's [`TestCore`] is dropped.

use crate::config::{CoreSettings, Environment};
use crate::jwt::KeyPair;
use crate::redis::RedisHandle;
use crate::server::{build_server, Core, Service};
use sqlx::postgres::PgConnectOptions;
use std::net::{SocketAddr, TcpListener};
use std::str::FromStr;
use std::sync::Arc;
use uuid::Uuid;

/// The maintenance database URL tests create their databases from
/// (`TEST_DATABASE_URL`, default `postgres://postgres:postgres@127.0.0.1:5432/postgres`).
pub fn maintenance_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".into())
}

/// The Redis URL tests use (`TEST_REDIS_URL`, default `redis://127.0.0.1:6379`).
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A [`Core`] on a fresh database and Redis prefix, cleaned up on drop.
pub struct TestCore {
    /// The core to build services from.
    pub core: Core,
    /// The database URL of this test's database (a second "node" can connect to it).
    pub database_url: String,
    db_name: String,
}

impl TestCore {
    /// Create the database, run migrations, pick a Redis prefix, generate a key pair.
    ///
    /// # Panics
    /// Postgres or Redis unreachable: tests cannot run without them.
    pub async fn new() -> Self {
        Self::with_redis(&redis_url()).await
    }

    /// Like [`TestCore::new`], on the Redis at `redis_url` (tests that restart their own Redis).
    ///
    /// # Panics
    /// Postgres or Redis unreachable.
    pub async fn with_redis(redis_url: &str) -> Self {
        let db_name = format!("tandem_test_{}", Uuid::new_v4().simple());
        let opts = PgConnectOptions::from_str(&maintenance_url()).expect("TEST_DATABASE_URL parses");
        let database_url = format!(
            "postgres://{}:{}@{}:{}/{}",
            opts.get_username(),
            std::env::var("TEST_DATABASE_PASSWORD").unwrap_or_else(|_| "postgres".into()),
            opts.get_host(),
            opts.get_port(),
            db_name
        );
        let db =
            crate::db::connect_and_migrate(&database_url, 10).await.expect("test database is created and migrated");
        let prefix = format!("test:{}:", Uuid::new_v4().simple());
        let redis = RedisHandle::connect(redis_url, &prefix).await.expect("Redis is reachable");
        let mut settings = Self::settings(&database_url, &prefix);
        settings.redis_url = redis_url.into();
        let core = Core::from_parts(settings, db, redis, KeyPair::generate());
        // Auth marks the revocation cache loaded; tests of other services run without auth.
        let mut c = core.redis.conn.clone();
        redis::AsyncCommands::set::<_, _, ()>(&mut c, core.redis.revocations_loaded_key(), 0)
            .await
            .expect("Redis is reachable");
        Self { core, database_url, db_name }
    }

    /// Insert a user with `role` (no usable password, email verified) and issue an access token
    /// for it as after a sign-in with a second factor.
    ///
    /// # Panics
    /// The insert fails.
    pub async fn user(&self, role: crate::ids::Role) -> TestUser {
        let id = crate::ids::UserId::new();
        let handle = format!("u{}", &id.to_string().replace('-', "")[..20]);
        sqlx::query(
            "insert into users (user_id, email, handle, role, password_hash, email_verified_at)
             values ($1, $2, $3, $4, 'x', now())",
        )
        .bind(id)
        .bind(format!("{handle}@example.com"))
        .bind(&handle)
        .bind(role.as_str())
        .execute(&self.core.db)
        .await
        .expect("user inserted");
        // As after a full sign-in: email verified, second factor (operators need it).
        let grants = crate::jwt::Grants { family: None, mfa: true, email_verified: true };
        let (token, _) = self.core.tokens.issue_with(id, role, grants).expect("token issued");
        TestUser { id, handle, token }
    }

    /// Settings for a test node: port 0, one worker, this test's database and prefix.
    pub fn settings(database_url: &str, prefix: &str) -> CoreSettings {
        CoreSettings {
            environment: Environment::Development,
            addr: "127.0.0.1:0".parse().expect("valid address"),
            public_url: "http://127.0.0.1:0".into(),
            database_url: database_url.into(),
            db_max_connections: 10,
            redis_url: redis_url(),
            redis_prefix: prefix.into(),
            data_dir: std::env::temp_dir(),
            jwt_private_key: None,
            jwt_public_key: None,
            jwt_issuer: "tandem".into(),
            jwt_audience: "tandem".into(),
            workers: Some(1),
            trusted_proxies: Default::default(),
            geoip_db: None,
            access_token_ttl_secs: crate::jwt::ACCESS_TOKEN_TTL_SECS,
            metrics_token: Some(crate::metrics::MetricsToken::new(METRICS_TOKEN).expect("a valid token")),
            metrics_addr: None,
            // Tests of other behaviour send many requests from one address; rate-limit tests
            // set their own.
            rate_limits: crate::rate_limit::RateLimits::off(),
        }
    }

    /// Serve `services` built from `core` on a random local port.
    ///
    /// # Panics
    /// The port cannot be bound.
    pub fn spawn(core: &Core, services: Vec<Arc<dyn Service>>) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a local port");
        let addr = listener.local_addr().expect("local address");
        let server = build_server(listener, core.clone(), services).expect("server builds");
        let handle = server.handle();
        tokio::spawn(server);
        TestServer { addr, handle }
    }
}

/// The `/metrics` bearer token of test servers.
pub const METRICS_TOKEN: &str = "test-metrics-token-0123456789";

/// A user made by [`TestCore::user`].
pub struct TestUser {
    /// Id.
    pub id: crate::ids::UserId,
    /// Handle (`u` + 20 hex digits).
    pub handle: String,
    /// A valid access token.
    pub token: String,
}

/// A running test server.
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Stops it.
    pub handle: actix_web::dev::ServerHandle,
}

impl TestServer {
    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

impl Drop for TestCore {
    fn drop(&mut self) {
        let db_name = self.db_name.clone();
        let prefix = self.core.redis.prefix().to_string();
        self.core.shutdown.cancel();
        // Drop runs inside the test's runtime, which we cannot block on: clean up from a
        // thread with its own runtime and wait for it.
        let cleanup = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build();
            let Ok(rt) = rt else { return };
            rt.block_on(async move {
                if let Ok(mut conn) = <sqlx::PgConnection as sqlx::Connection>::connect(&maintenance_url()).await {
                    let sql = format!("drop database if exists \"{db_name}\" with (force)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await;
                }
                if let Ok(client) = redis::Client::open(redis_url()) {
                    if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
                        let keys: Vec<String> = redis::cmd("KEYS")
                            .arg(format!("{prefix}*"))
                            .query_async(&mut conn)
                            .await
                            .unwrap_or_default();
                        for chunk in keys.chunks(500) {
                            let _: Result<(), _> = redis::cmd("DEL").arg(chunk).query_async(&mut conn).await;
                        }
                    }
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// A broker stand-in for tests of services that use [`crate::hooks::RoomControl`] without
/// running the broker: rooms live in memory; `end_room`, `heartbeat` and stage calls are
/// recorded, and every call fails while [`StandInRooms::fail`] is set.
#[derive(Default)]
pub struct StandInRooms {
    rooms: std::sync::Mutex<std::collections::HashMap<crate::ids::RoomId, crate::hooks::RoomSummary>>,
    calls: std::sync::Mutex<Vec<RoomCall>>,
    released: std::sync::Mutex<std::collections::HashSet<crate::ids::SlotId>>,
    generations: std::sync::Mutex<std::collections::HashMap<crate::ids::SlotId, u32>>,
    /// While true, every call fails as if the broker were down.
    pub fail: std::sync::atomic::AtomicBool,
}

/// A call a [`StandInRooms`] received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomCall {
    /// `end_room(room, reason)` (whether or not it ended it).
    End(crate::ids::RoomId, String),
    /// `heartbeat(room, user)`.
    Heartbeat(crate::ids::RoomId, crate::ids::UserId),
    /// `set_stage(room, user)`.
    SetStage(crate::ids::RoomId, Option<crate::ids::UserId>),
    /// `leave_stage(room, user)`.
    LeaveStage(crate::ids::RoomId, crate::ids::UserId),
}

impl StandInRooms {
    /// Open a live room.
    pub fn open(
        &self,
        kind: crate::hooks::RoomKind,
        host: crate::ids::UserId,
        guest: Option<crate::ids::UserId>,
        created_at: chrono::DateTime<chrono::Utc>,
    ) -> crate::ids::RoomId {
        let room_id = crate::ids::RoomId::new();
        let summary = crate::hooks::RoomSummary {
            room_id,
            kind,
            live: true,
            host_id: host,
            guest_id: guest,
            created_at,
            ended_at: None,
        };
        self.rooms.lock().unwrap_or_else(|e| e.into_inner()).insert(room_id, summary);
        room_id
    }

    /// End a room now, as the broker would record it; true if it was live.
    pub fn end(&self, room: crate::ids::RoomId) -> bool {
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        match rooms.get_mut(&room) {
            Some(r) if r.live => {
                r.live = false;
                r.ended_at = Some(chrono::Utc::now());
                true
            }
            _ => false,
        }
    }

    /// Record a new publish generation of `slot` (a stage change), without telling anyone.
    pub fn set_generation(&self, slot: crate::ids::SlotId, generation: u32) {
        self.generations.lock().unwrap_or_else(|e| e.into_inner()).insert(slot, generation);
    }

    /// Record that `slot` is released (as the broker's database would), without telling anyone.
    pub fn release_slot(&self, slot: crate::ids::SlotId) {
        self.released.lock().unwrap_or_else(|e| e.into_inner()).insert(slot);
    }

    /// The room as it stands.
    pub fn get(&self, room: crate::ids::RoomId) -> Option<crate::hooks::RoomSummary> {
        self.rooms.lock().unwrap_or_else(|e| e.into_inner()).get(&room).cloned()
    }

    /// Every call so far, oldest first.
    pub fn calls(&self) -> Vec<RoomCall> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn check(&self) -> anyhow::Result<()> {
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            anyhow::bail!("the broker stand-in is down");
        }
        Ok(())
    }

    fn record(&self, call: RoomCall) -> anyhow::Result<()> {
        self.check()?;
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).push(call);
        Ok(())
    }
}

#[async_trait::async_trait]
impl crate::hooks::RoomControl for StandInRooms {
    async fn room(&self, room: crate::ids::RoomId) -> anyhow::Result<Option<crate::hooks::RoomSummary>> {
        self.check()?;
        Ok(self.get(room))
    }
    async fn released_slots(&self, slots: &[crate::ids::SlotId]) -> anyhow::Result<Vec<crate::ids::SlotId>> {
        self.check()?;
        let released = self.released.lock().unwrap_or_else(|e| e.into_inner());
        Ok(slots.iter().copied().filter(|s| released.contains(s)).collect())
    }
    async fn live_slots(&self, slots: &[crate::ids::SlotId]) -> anyhow::Result<Vec<crate::hooks::LiveSlot>> {
        self.check()?;
        let released = self.released.lock().unwrap_or_else(|e| e.into_inner());
        let generations = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        Ok(slots
            .iter()
            .filter(|s| !released.contains(s))
            .map(|&slot_id| crate::hooks::LiveSlot {
                slot_id,
                generation: generations.get(&slot_id).copied().unwrap_or(0),
            })
            .collect())
    }
    async fn end_room(&self, room: crate::ids::RoomId, reason: &str) -> anyhow::Result<bool> {
        self.record(RoomCall::End(room, reason.to_string()))?;
        Ok(self.end(room))
    }
    async fn heartbeat(&self, room: crate::ids::RoomId, user: crate::ids::UserId) -> anyhow::Result<()> {
        self.record(RoomCall::Heartbeat(room, user))
    }
    async fn set_stage(&self, room: crate::ids::RoomId, user: Option<crate::ids::UserId>) -> anyhow::Result<()> {
        self.record(RoomCall::SetStage(room, user))
    }
    async fn leave_stage(&self, room: crate::ids::RoomId, user: crate::ids::UserId) -> anyhow::Result<()> {
        self.record(RoomCall::LeaveStage(room, user))
    }
}

/// A `redis-server` of a test's own on a free port, for tests that kill or restart Redis (the
/// machine's Redis is never touched). Stopped on drop, even if something replaced the process.
pub struct RedisServer {
    port: u16,
    child: Option<std::process::Child>,
}

impl RedisServer {
    /// Start an empty, non-persistent Redis and wait until it listens.
    ///
    /// # Panics
    /// `redis-server` is not installed or does not start.
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("address").port();
        let mut s = Self { port, child: None };
        s.spawn();
        s
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The running process's id (0 when stopped).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, std::process::Child::id)
    }

    /// The command line that starts it.
    pub fn command(&self) -> Vec<String> {
        ["redis-server", "--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            .iter()
            .map(|s| (*s).to_string())
            .collect()
    }

    fn spawn(&mut self) {
        let cmd = self.command();
        let child = std::process::Command::new(&cmd[0])
            .args(&cmd[1..])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("redis-server starts (it is installed with Redis)");
        self.child = Some(child);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "redis-server listens on {}", self.port);
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Kill it (SIGKILL: no goodbye).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Kill it and start an empty one on the same port.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        // A process started by someone else on this port (a chaos run) goes too.
        let _ = std::process::Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "shutdown", "nosave"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// A TCP proxy in front of a Redis that a test can cut: everything through it stops at once, as
/// if the process using it had died (no late writes from tasks still unwinding).
pub struct RedisProxy {
    /// `redis://` URL of the proxy.
    pub url: String,
    tasks: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl RedisProxy {
    /// Listen on a free port and forward every connection to the Redis at `upstream_url`.
    ///
    /// # Panics
    /// No local port can be bound.
    pub async fn start(upstream_url: &str) -> Self {
        let upstream = upstream_url.trim_start_matches("redis://").trim_end_matches('/').to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a local port");
        let url = format!("redis://{}", listener.local_addr().expect("local address"));
        let tasks: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let conns = tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let relay = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                conns.lock().unwrap_or_else(|p| p.into_inner()).push(relay);
            }
        });
        tasks.lock().unwrap_or_else(|p| p.into_inner()).push(accept);
        Self { url, tasks }
    }

    /// Drop every connection and refuse new ones.
    pub fn cut(&self) {
        for t in self.tasks.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            t.abort();
        }
    }
}

impl Drop for RedisProxy {
    fn drop(&mut self) {
        self.cut();
    }
}
