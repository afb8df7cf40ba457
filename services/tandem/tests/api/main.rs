//! Tests of the all-in-one binary: each test starts `tandem serve` as a child process on a free
//! local port, against its own database and Redis prefix (from [`TestCore`]).

mod docs;
mod metrics;
mod ownership;
mod routes;
mod split;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tandem_shared::testing::{redis_url, TestCore};

/// A running `tandem serve`, killed (and its data directory removed) on drop.
pub struct Node {
    /// Keeps the database and Redis prefix alive for the child; dropped after it.
    _t: TestCore,
    child: Child,
    data_dir: PathBuf,
    base: String,
    pub http: reqwest::Client,
}

impl Node {
    /// Start `tandem serve` and wait until `/healthz` answers.
    ///
    /// # Panics
    /// The binary exits or is not healthy within a minute (its log is in the message).
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// [`Node::start`] with extra environment variables.
    pub async fn start_with(env: &[(&str, &str)]) -> Self {
        let t = TestCore::new().await;
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let data_dir = std::env::temp_dir().join(format!("tandem-serve-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&data_dir).unwrap();
        let log = std::fs::File::create(data_dir.join("serve.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_tandem"))
            .arg("serve")
            .env("TANDEM_ADDR", format!("127.0.0.1:{port}"))
            .env("DATABASE_URL", &t.database_url)
            .env("REDIS_URL", redis_url())
            .env("TANDEM_REDIS_PREFIX", t.core.redis.prefix())
            .env("TANDEM_DATA_DIR", &data_dir)
            .env("TANDEM_WORKERS", "1")
            .env_remove("TANDEM_BROKER_DOCS")
            .env_remove("TANDEM_METRICS_TOKEN")
            .env_remove("TANDEM_METRICS_ADDR")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the tandem binary starts");
        let mut node =
            Self { _t: t, child, data_dir, base: format!("http://127.0.0.1:{port}"), http: reqwest::Client::new() };
        node.wait_healthy().await;
        node
    }

    async fn wait_healthy(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("tandem serve exited with {status}:\n{}", self.log());
            }
            if let Ok(res) = self.http.get(self.url("/healthz")).send().await {
                if res.status().is_success() {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "tandem serve is not healthy after 60s:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("serve.log")).unwrap_or_default()
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}
