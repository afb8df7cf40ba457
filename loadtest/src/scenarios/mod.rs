//! The scenarios, each run as shards: shard `s` of `n` plays pairs `i` with `i % n == s`.

mod broadcast;
mod churn;
pub mod fanout;
mod private;
mod private_chaos;
mod signin;

use crate::accounts::{Account, Pair, SEED_PASSWORD};
use crate::cli::RunArgs;
use crate::orchestrate::{Scenario, ShardSpec};
use crate::signal::SignalClient;
use crate::stats::Recorder;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Sessions by account email, each logged in once ([`Ctx::connect_shared`]).
pub type SharedSessions =
    std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::OnceCell<crate::api::Session>>>>;

/// What every session task of a shard shares.
pub struct Ctx {
    /// Measurements.
    pub rec: Arc<Recorder>,
    /// The run's options.
    pub args: RunArgs,
    /// Targets with their resolved addresses.
    pub targets: Vec<(String, SocketAddr)>,
    /// Source addresses to spread connections over, with one HTTP client each.
    pub sources: Vec<(IpAddr, reqwest::Client)>,
    /// When this shard started.
    pub t0: Instant,
    /// Total pairs over all shards (for the global ramp schedule).
    pub total: usize,
    /// The chaos schedule (empty without `--chaos`).
    pub faults: Vec<crate::chaos::Fault>,
    /// One login per account for sockets that share it (broadcast viewers), as tabs of one
    /// browser share a session: ten thousand viewers cost as many logins as accounts.
    pub shared_sessions: SharedSessions,
}

impl Ctx {
    /// The target user number `i` talks to (spread round-robin).
    pub fn target(&self, i: usize) -> &(String, SocketAddr) {
        &self.targets[i % self.targets.len()]
    }

    /// Source address and HTTP client for user number `i`.
    pub fn source(&self, i: usize) -> &(IpAddr, reqwest::Client) {
        &self.sources[i % self.sources.len()]
    }

    /// When session `i` (global index) starts, following the ramp rate.
    pub fn start_at(&self, i: usize) -> Instant {
        self.t0 + Duration::from_secs_f64(i as f64 / self.args.ramp.max(0.1))
    }

    /// When the last session's ramp-up is over plus the duration: the hold of a session that
    /// started first (sessions hold for `hold_until(total) - t0` each).
    pub fn hold_until(&self, sessions: usize) -> Instant {
        self.t0 + Duration::from_secs_f64(sessions as f64 / self.args.ramp.max(0.1)) + self.args.duration
    }

    /// Time `f`, recording its latency under `name` on success and its error code on failure.
    pub async fn timed<T>(
        &self,
        name: &str,
        f: impl std::future::Future<Output = anyhow::Result<T>>,
    ) -> anyhow::Result<T> {
        let start = Instant::now();
        let r = f.await;
        match &r {
            Ok(_) => self.rec.latency(name, start.elapsed()),
            Err(e) => self.rec.error(&format!("{name}:{}", crate::signal::error_code(e))),
        }
        r
    }

    /// Log in `account` (user number `i`) and open its signaling socket.
    pub async fn sign_in_and_connect(
        &self,
        account: &Account,
        i: usize,
    ) -> anyhow::Result<(crate::api::Session, SignalClient)> {
        let (target, addr) = self.target(i);
        let (source, http) = self.source(i);
        let session = self.timed("login", crate::api::login(http, target, &account.email, SEED_PASSWORD)).await?;
        let ws = self.timed("ws_connect", SignalClient::connect(*source, *addr, target, &session.access_token)).await?;
        self.rec.gauge_add("sockets", 1);
        Ok((session, ws))
    }

    /// Open a socket for `account` (user number `i`) with the account's shared session, logging
    /// in once per account.
    pub async fn connect_shared(
        &self,
        account: &Account,
        i: usize,
    ) -> anyhow::Result<(crate::api::Session, SignalClient)> {
        let (target, addr) = self.target(i);
        let (source, _) = self.source(i);
        let session = self.shared_session(account, i).await?;
        let ws = self.timed("ws_connect", SignalClient::connect(*source, *addr, target, &session.access_token)).await?;
        self.rec.gauge_add("sockets", 1);
        Ok((session, ws))
    }

    /// The account's shared session (user number `i`), logging in on first use.
    ///
    /// # Errors
    /// The login failed.
    pub async fn shared_session(&self, account: &Account, i: usize) -> anyhow::Result<crate::api::Session> {
        let (target, _) = self.target(i);
        let (_, http) = self.source(i);
        let cell = self
            .shared_sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(account.email.clone())
            .or_default()
            .clone();
        let session = cell
            .get_or_try_init(|| self.timed("login", crate::api::login(http, target, &account.email, SEED_PASSWORD)))
            .await?
            .clone();
        Ok(session)
    }

    /// Close a socket and account for it.
    pub fn disconnect(&self, ws: &SignalClient) {
        ws.close();
        self.rec.gauge_add("sockets", -1);
    }
}

/// Run one shard of a scenario.
///
/// # Errors
/// Setup failures (accounts, targets); per-session failures are counted, not returned.
pub async fn run_shard(spec: &ShardSpec, rec: Arc<Recorder>) -> anyhow::Result<()> {
    let args = spec.args.clone();
    let pairs = crate::accounts::load_pairs(&args.common.accounts, spec.scenario.pairs_needed(&args))?;
    let mut targets = Vec::new();
    for t in &args.common.targets {
        let t = t.trim_end_matches('/').to_string();
        let addr = crate::net::resolve(&t).await?;
        targets.push((t, addr));
    }
    let loopback = targets.iter().all(|(_, a)| a.ip().is_loopback());
    // Give each shard its own slice of source addresses so processes do not share ports.
    let all_sources = crate::net::source_addrs(loopback, args.sources.max(1));
    let mut sources = Vec::new();
    for (k, ip) in all_sources.iter().enumerate() {
        if all_sources.len() >= spec.shards && k % spec.shards != spec.shard {
            continue;
        }
        let mut b =
            reqwest::Client::builder().timeout(Duration::from_secs(30)).pool_max_idle_per_host(64).tcp_nodelay(true);
        if !ip.is_unspecified() {
            b = b.local_address(*ip);
        }
        sources.push((*ip, b.build()?));
    }
    let faults = match &args.chaos {
        Some(s) => crate::chaos::parse_schedule(s).map_err(anyhow::Error::msg)?,
        None => Vec::new(),
    };
    let ctx = Arc::new(Ctx {
        rec,
        args,
        targets,
        sources,
        t0: Instant::now(),
        total: pairs.len(),
        faults,
        shared_sessions: Default::default(),
    });
    let mine: Vec<(usize, Pair)> =
        pairs.into_iter().enumerate().filter(|(i, _)| i % spec.shards == spec.shard).collect();
    match spec.scenario {
        Scenario::Private => private::run(ctx, mine).await,
        Scenario::Churn => churn::run(ctx, mine).await,
        Scenario::Signin => signin::run(ctx, mine).await,
        Scenario::Broadcast => broadcast::run(ctx, mine, spec.shard, spec.shards).await,
        Scenario::Fanout => fanout::run(ctx, mine, spec.shard, spec.shards).await,
        Scenario::Mixed => {
            // 90% of pairs hold private sessions; every tenth pair's creator broadcasts and its
            // fan watches some broadcast, so fan-out and private relay run side by side.
            let (b, p): (Vec<_>, Vec<_>) = mine.into_iter().partition(|(i, _)| i % 10 == 9);
            let c2 = ctx.clone();
            let priv_task = tokio::spawn(async move { private::run(c2, p).await });
            let b_res = broadcast::run_mixed(ctx, b).await;
            priv_task.await??;
            b_res
        }
    }
}
