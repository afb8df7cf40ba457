//! Runs a scenario: spreads it over worker processes (each may hold only so many open files),
//! shows live progress, samples each target's `/metrics`, and assembles the [`RunReport`].

use crate::cli::RunArgs;
use crate::report::{RunReport, ServerSample, TimelinePoint};
use crate::stats::{add_counts, Latencies, Progress, Recorder, Totals};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

/// Sockets one worker process is given at most by default.
pub const SOCKETS_PER_PROC: usize = 8_000;

/// Which scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// Private 1-to-1 sessions held.
    Private,
    /// Broadcast fan-out.
    Broadcast,
    /// Fan-out at a fixed offered rate of deliveries, with its server cost.
    Fanout,
    /// Session churn.
    Churn,
    /// Password sign-ins at a fixed rate: throughput and the share shed with 503.
    Signin,
    /// A blend for soak runs.
    Mixed,
}

impl Scenario {
    /// Name used in reports.
    pub fn name(&self) -> &'static str {
        match self {
            Scenario::Private => "private",
            Scenario::Broadcast => "broadcast",
            Scenario::Fanout => "fanout",
            Scenario::Churn => "churn",
            Scenario::Signin => "signin",
            Scenario::Mixed => "mixed",
        }
    }

    /// WebSockets the scenario holds at its peak.
    pub fn sockets(&self, a: &RunArgs) -> usize {
        match self {
            Scenario::Private | Scenario::Mixed => a.common.pairs * 2,
            Scenario::Broadcast | Scenario::Fanout => a.rooms * (1 + a.viewers),
            Scenario::Churn => ((a.rate * 4.0) as usize).max(2),
            Scenario::Signin => 0,
        }
    }

    /// Pairs of accounts the scenario needs.
    pub fn pairs_needed(&self, a: &RunArgs) -> usize {
        match self {
            Scenario::Broadcast | Scenario::Fanout => a.rooms.max(a.common.pairs),
            _ => a.common.pairs,
        }
    }
}

/// What one worker runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardSpec {
    /// Scenario.
    pub scenario: Scenario,
    /// Options of the run.
    pub args: RunArgs,
    /// This shard's index.
    pub shard: usize,
    /// Number of shards.
    pub shards: usize,
}

#[derive(Debug, Serialize, Deserialize)]
enum WorkerLine {
    #[serde(rename = "progress")]
    Progress(Progress),
    #[serde(rename = "done")]
    Done { totals: Totals, error: Option<String> },
}

/// Messages from shards (in-process or child processes) to the orchestrator.
enum Msg {
    Progress(usize, Progress),
    Done(usize, Totals, Option<String>),
}

/// Run `scenario` and return its report (also written to `args.out`).
///
/// # Errors
/// Targets down, accounts missing, or workers that cannot start.
pub async fn run(scenario: Scenario, args: RunArgs) -> anyhow::Result<RunReport> {
    let started_at = chrono::Utc::now().to_rfc3339();
    let mut notes = Vec::new();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    for t in &args.common.targets {
        crate::api::check_ready(&http, t).await?;
    }
    // Fail early, before spawning anything, when the accounts are missing.
    crate::accounts::load_pairs(&args.common.accounts, scenario.pairs_needed(&args))?;
    let chaos = match &args.chaos {
        None => None,
        Some(schedule) => {
            anyhow::ensure!(scenario == Scenario::Private, "--chaos runs with the private scenario");
            let faults = crate::chaos::parse_schedule(schedule).map_err(anyhow::Error::msg)?;
            let path =
                args.chaos_control.as_ref().context("--chaos needs --chaos-control (CHAOS=1 run-multinode.sh)")?;
            Some((faults, crate::chaos::load_control(path)?))
        }
    };
    let (soft, hard) = crate::limits::raise_nofile();
    let sockets = scenario.sockets(&args);
    let per_proc = SOCKETS_PER_PROC.min(crate::limits::socket_budget(soft, 1_000) as usize).max(1);
    let procs = args.procs.unwrap_or_else(|| sockets.div_ceil(per_proc).max(1));
    if procs == 0 && sockets as u64 + 1_000 > soft {
        notes.push(format!("open-files limit {soft} (hard {hard}) caps this in-process run below {sockets} sockets"));
    }
    if procs > 0 && sockets.div_ceil(procs) as u64 + 1_000 > soft {
        notes.push(format!(
            "open-files limit {soft} (hard {hard}) may cap each of {procs} workers at {} sockets",
            soft.saturating_sub(1_000)
        ));
    }

    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    let shards = procs.max(1);
    let mut children = Vec::new();
    if procs == 0 {
        let spec = ShardSpec { scenario, args: args.clone(), shard: 0, shards: 1 };
        let tx = tx.clone();
        tokio::spawn(async move {
            let rec = Arc::new(Recorder::default());
            let (ptx, mut prx) = mpsc::unbounded_channel();
            let ticker = spawn_ticker(rec.clone(), ptx);
            let fwd_tx = tx.clone();
            let fwd = tokio::spawn(async move {
                while let Some(p) = prx.recv().await {
                    let _ = fwd_tx.send(Msg::Progress(0, p));
                }
            });
            let result = crate::scenarios::run_shard(&spec, rec.clone()).await;
            ticker.abort();
            fwd.abort();
            let _ = tx.send(Msg::Done(0, rec.totals(), result.err().map(|e| format!("{e:#}"))));
        });
    } else {
        let exe = std::env::current_exe().context("cannot find this program to spawn workers")?;
        for shard in 0..shards {
            let spec = ShardSpec { scenario, args: args.clone(), shard, shards };
            let mut child = tokio::process::Command::new(&exe)
                .arg("worker")
                .arg("--spec")
                .arg(serde_json::to_string(&spec)?)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::inherit())
                .kill_on_drop(true)
                .spawn()
                .context("Failed to start a worker process")?;
            let stdout = child.stdout.take().context("worker stdout")?;
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stdout).lines();
                let mut finished = false;
                while let Ok(Some(line)) = lines.next_line().await {
                    match serde_json::from_str::<WorkerLine>(&line) {
                        Ok(WorkerLine::Progress(p)) => {
                            let _ = tx.send(Msg::Progress(shard, p));
                        }
                        Ok(WorkerLine::Done { totals, error }) => {
                            finished = true;
                            let _ = tx.send(Msg::Done(shard, totals, error));
                        }
                        Err(_) => {}
                    }
                }
                if !finished {
                    let _ = tx.send(Msg::Done(shard, Totals::default(), Some("worker exited without a result".into())));
                }
            });
            children.push(child);
        }
    }
    drop(tx);

    let bar = indicatif::ProgressBar::new_spinner();
    bar.enable_steady_tick(Duration::from_millis(200));
    let start = Instant::now();
    let chaos_task = chaos.map(|(faults, control)| tokio::spawn(crate::chaos::run(faults, control, start)));
    let mut latest: BTreeMap<usize, Progress> = BTreeMap::new();
    let mut interval = Latencies::default();
    let mut timeline = Vec::new();
    let mut servers = Vec::new();
    let mut totals: Vec<Totals> = Vec::new();
    let mut worker_errors = Vec::new();
    let mut done = 0;
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    let scrape_http = http.clone();
    loop {
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(Msg::Progress(shard, p)) => {
                    interval.merge(&Latencies::decode(&p.interval));
                    latest.insert(shard, p);
                }
                Some(Msg::Done(shard, t, err)) => {
                    done += 1;
                    if let Some(e) = err {
                        worker_errors.push(format!("worker {shard}: {e}"));
                    }
                    totals.push(t);
                    if done == shards { break; }
                }
                None => break,
            },
            _ = tick.tick() => {
                let t = start.elapsed().as_secs_f64();
                let mut point = TimelinePoint { t, ..Default::default() };
                for p in latest.values() {
                    for (k, v) in &p.gauges {
                        *point.gauges.entry(k.clone()).or_default() += v;
                    }
                    point.errors += p.errors.values().sum::<u64>();
                }
                for (k, s) in interval.summary() {
                    point.p99_ms.insert(k, s.p99_ms);
                }
                interval = Latencies::default();
                bar.set_message(format!(
                    "{:>5.0}s  sessions {}  sockets {}  errors {}",
                    t,
                    point.gauges.get("sessions").copied().unwrap_or(0),
                    point.gauges.get("sockets").copied().unwrap_or(0),
                    point.errors
                ));
                timeline.push(point);
                for target in &args.common.targets {
                    if let Ok(f) = crate::scrape::fetch(&scrape_http, target).await {
                        servers.push(ServerSample { t, target: target.clone(), rss_bytes: f.rss_bytes, cpu_seconds: f.cpu_seconds, open_fds: f.open_fds, audience: f.audience });
                    }
                }
            }
        }
    }
    bar.finish_and_clear();
    for mut c in children {
        let _ = c.wait().await;
    }

    let mut all = Latencies::default();
    let mut errors = BTreeMap::new();
    let mut counters = BTreeMap::new();
    for t in &totals {
        all.merge(&Latencies::decode(&t.latencies));
        add_counts(&mut errors, &t.errors);
        add_counts(&mut counters, &t.counters);
    }
    for e in &worker_errors {
        *errors.entry("worker_failed".to_string()).or_default() += 1;
        notes.push(e.clone());
    }
    let mut chaos_records = Vec::new();
    if let Some(task) = chaos_task {
        if task.is_finished() {
            chaos_records = task.await.unwrap_or_default();
        } else {
            task.abort();
            notes.push("the run ended before every scheduled fault was injected".into());
        }
    }
    let mut report = RunReport {
        scenario: scenario.name().into(),
        params: serde_json::to_value(&args)?,
        targets: args.common.targets.clone(),
        started_at,
        elapsed_secs: start.elapsed().as_secs_f64(),
        latencies: all.summary(),
        errors,
        counters,
        timeline,
        servers,
        derived: BTreeMap::new(),
        notes,
        chaos: chaos_records,
    };
    derive(&mut report);
    if scenario == Scenario::Fanout {
        let (from, until) =
            crate::scenarios::fanout::send_window(start, args.rooms, args.viewers, args.ramp, args.duration);
        let secs = |t: Instant| t.saturating_duration_since(start).as_secs_f64();
        fanout_figures(&mut report, args.rooms, secs(from), secs(until));
    }
    report.write(&args.out)?;
    Ok(report)
}

/// Figures derived from the samples: peaks, memory per socket, rates.
pub fn derive(r: &mut RunReport) {
    let peak = |name: &str| r.timeline.iter().filter_map(|p| p.gauges.get(name)).copied().max().unwrap_or(0);
    let peak_sockets = peak("sockets");
    r.derived.insert("peak_sessions".into(), peak("sessions") as f64);
    r.derived.insert("peak_sockets".into(), peak_sockets as f64);
    // Memory per socket: growth of the targets' summed RSS from the first sample to the
    // sample where the most sockets were held, divided by those sockets.
    let sum_at = |t: f64| r.servers.iter().filter(|s| (s.t - t).abs() < 1e-6).map(|s| s.rss_bytes).sum::<f64>();
    if let (Some(first), Some(at_peak)) = (
        r.servers.first().map(|s| s.t),
        r.timeline.iter().max_by_key(|p| p.gauges.get("sockets").copied().unwrap_or(0)).map(|p| p.t),
    ) {
        let (base, high) = (sum_at(first), sum_at(at_peak));
        if peak_sockets > 0 && high > base {
            r.derived.insert("server_bytes_per_socket".into(), (high - base) / peak_sockets as f64);
        }
        if high > 0.0 {
            r.derived.insert("server_rss_mib_at_peak".into(), high / (1024.0 * 1024.0));
        }
    }
    if let (Some(a), Some(b)) = (r.servers.first(), r.servers.last()) {
        if b.t > a.t {
            let cpu: f64 = r
                .targets
                .iter()
                .map(|t| {
                    let first = r.servers.iter().find(|s| &s.target == t).map(|s| s.cpu_seconds).unwrap_or(0.0);
                    let last = r.servers.iter().rev().find(|s| &s.target == t).map(|s| s.cpu_seconds).unwrap_or(0.0);
                    last - first
                })
                .sum();
            r.derived.insert("server_cpu_cores_avg".into(), cpu / (b.t - a.t));
        }
    }
    // Fan-out cost: server CPU spent per chat message delivered to a viewer (whole run, so an
    // upper bound: it includes sign-ins and joins).
    if let (Some(cores), Some(delivered)) =
        (r.derived.get("server_cpu_cores_avg").copied(), r.counters.get("chat_delivered"))
    {
        if *delivered > 0 {
            let span = r.servers.last().map(|s| s.t).unwrap_or(0.0) - r.servers.first().map(|s| s.t).unwrap_or(0.0);
            r.derived.insert("server_cpu_us_per_delivered_chat".into(), cores * span * 1e6 / *delivered as f64);
        }
    }
    view_counting_cost(r);
    let count = |k: &str| r.counters.get(k).copied().unwrap_or(0) as f64;
    let signins = count("signin_ok")
        + count("signin_shed")
        + count("signin_refused")
        + count("signin_timeout")
        + count("signin_failed");
    if signins > 0.0 && r.elapsed_secs > 0.0 {
        r.derived.insert("signin_ok_per_sec".into(), count("signin_ok") / r.elapsed_secs);
        r.derived.insert("signin_attempts_per_sec".into(), signins / r.elapsed_secs);
        r.derived.insert("signin_shed_share".into(), count("signin_shed") / signins);
        r.derived.insert("signin_timeout_share".into(), count("signin_timeout") / signins);
    }
    if let Some(n) = r.counters.get("sessions_completed") {
        if r.elapsed_secs > 0.0 {
            r.derived.insert("sessions_completed_per_sec".into(), *n as f64 / r.elapsed_secs);
        }
    }
}

/// The fan-out figures: deliveries offered and made (`fanout_expected`, `fanout_delivered`,
/// `fanout_lost`, `fanout_loss_ratio`), and over the send window `[from, until]` (seconds from
/// the run's start, trimmed by the sampling period at each end) the delivered rate and the
/// targets' CPU per delivery (`fanout_delivered_per_sec`, `server_cpu_us_per_delivery`).
pub fn fanout_figures(r: &mut RunReport, rooms: usize, from: f64, until: f64) {
    let count = |k: &str| r.counters.get(k).copied().unwrap_or(0);
    let expected: u64 =
        (0..rooms).map(|k| count(&format!("fanout_sent.{k}")) * count(&format!("fanout_joined.{k}"))).sum();
    let delivered = count("chat_delivered");
    r.derived.insert("fanout_expected".into(), expected as f64);
    r.derived.insert("fanout_delivered".into(), delivered as f64);
    r.derived.insert("fanout_lost".into(), expected.saturating_sub(delivered) as f64);
    if expected > 0 {
        r.derived.insert("fanout_loss_ratio".into(), expected.saturating_sub(delivered) as f64 / expected as f64);
    }
    // Samples at least one period inside the window, so ramp-up and drain stay out.
    let inside = |t: f64| t >= from + 2.0 && t <= until - 1.0;
    let points: Vec<(f64, f64)> = r
        .timeline
        .iter()
        .filter(|p| inside(p.t))
        .map(|p| (p.t, p.gauges.get("delivered").copied().unwrap_or(0) as f64))
        .collect();
    let (Some(first), Some(last)) = (points.first(), points.last()) else { return };
    if last.0 <= first.0 || last.1 <= first.1 {
        return;
    }
    let made = last.1 - first.1;
    r.derived.insert("fanout_delivered_per_sec".into(), made / (last.0 - first.0));
    let cpu_at = |target: &str, t: f64| {
        r.servers.iter().filter(|s| s.target == target).min_by(|a, b| (a.t - t).abs().total_cmp(&(b.t - t).abs()))
    };
    let mut cpu = 0.0;
    for target in &r.targets {
        if let (Some(a), Some(b)) = (cpu_at(target, first.0), cpu_at(target, last.0)) {
            cpu += b.cpu_seconds - a.cpu_seconds;
        }
    }
    if cpu > 0.0 {
        r.derived.insert("server_cpu_us_per_delivery".into(), cpu * 1e6 / made);
        r.derived.insert("server_cpu_cores_in_window".into(), cpu / (last.0 - first.0));
    }
}

/// What counting views cost the servers over the run (`view_counting_*`): signaling's batches
/// (one `XADD` each) per second, the spans they carried and their bytes, and the broker's
/// PostgreSQL time applying them, per second and per span. Absent when no target reports them.
fn view_counting_cost(r: &mut RunReport) {
    let mut first = crate::scrape::AudienceFigures::default();
    let mut last = crate::scrape::AudienceFigures::default();
    for t in &r.targets {
        let mut samples = r.servers.iter().filter(|s| &s.target == t);
        let (Some(a), Some(b)) =
            (samples.next().map(|s| s.audience), r.servers.iter().rev().find(|s| &s.target == t).map(|s| s.audience))
        else {
            continue;
        };
        for (acc, x) in [(&mut first, a), (&mut last, b)] {
            acc.batches += x.batches;
            acc.spans += x.spans;
            acc.bytes += x.bytes;
            acc.spans_applied += x.spans_applied;
            acc.apply_micros += x.apply_micros;
        }
    }
    let span = r.servers.last().map(|s| s.t).unwrap_or(0.0) - r.servers.first().map(|s| s.t).unwrap_or(0.0);
    let spans = last.spans - first.spans;
    if span <= 0.0 || last.batches <= 0.0 {
        return;
    }
    let batches = last.batches - first.batches;
    let applied = last.spans_applied - first.spans_applied;
    let apply_ms = (last.apply_micros - first.apply_micros) / 1000.0;
    r.derived.insert("view_counting_xadds_per_sec".into(), batches / span);
    r.derived.insert("view_counting_spans".into(), spans);
    if spans > 0.0 {
        r.derived.insert("view_counting_bytes_per_span".into(), (last.bytes - first.bytes) / spans);
    }
    r.derived.insert("view_counting_db_ms_per_sec".into(), apply_ms / span);
    if applied > 0.0 {
        r.derived.insert("view_counting_db_us_per_span".into(), apply_ms * 1000.0 / applied);
    }
}

fn spawn_ticker(rec: Arc<Recorder>, tx: mpsc::UnboundedSender<Progress>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            if tx.send(rec.take_interval()).is_err() {
                break;
            }
        }
    })
}

/// The `worker` subcommand: run one shard and stream progress as JSON lines on stdout.
///
/// # Errors
/// A malformed spec.
pub async fn worker_main(spec: &str) -> anyhow::Result<()> {
    let spec: ShardSpec = serde_json::from_str(spec).context("malformed worker spec")?;
    crate::limits::raise_nofile();
    let rec = Arc::new(Recorder::default());
    let (ptx, mut prx) = mpsc::unbounded_channel();
    let ticker = spawn_ticker(rec.clone(), ptx);
    let printer = tokio::spawn(async move {
        let mut out = tokio::io::stdout();
        while let Some(p) = prx.recv().await {
            if let Ok(line) = serde_json::to_string(&WorkerLine::Progress(p)) {
                let _ = out.write_all(format!("{line}\n").as_bytes()).await;
                let _ = out.flush().await;
            }
        }
    });
    let result = crate::scenarios::run_shard(&spec, rec.clone()).await;
    ticker.abort();
    printer.abort();
    let last = rec.take_interval();
    let done = WorkerLine::Done { totals: rec.totals(), error: result.err().map(|e| format!("{e:#}")) };
    let mut out = tokio::io::stdout();
    for line in [serde_json::to_string(&WorkerLine::Progress(last))?, serde_json::to_string(&done)?] {
        out.write_all(format!("{line}\n").as_bytes()).await?;
    }
    out.flush().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ServerSample;

    #[test]
    fn derives_memory_per_socket_from_peak_growth() {
        let mut r = RunReport { targets: vec!["a".into()], elapsed_secs: 10.0, ..Default::default() };
        for (t, sockets, rss) in [(0.0, 0, 100e6), (2.0, 1000, 105e6), (4.0, 2000, 110e6), (6.0, 0, 101e6)] {
            let mut p = TimelinePoint { t, ..Default::default() };
            p.gauges.insert("sockets".into(), sockets);
            p.gauges.insert("sessions".into(), sockets / 2);
            r.timeline.push(p);
            r.servers.push(ServerSample {
                t,
                target: "a".into(),
                rss_bytes: rss,
                cpu_seconds: t / 2.0,
                open_fds: 0.0,
                audience: Default::default(),
            });
        }
        r.counters.insert("sessions_completed".into(), 50);
        r.counters.insert("chat_delivered".into(), 1_000_000);
        derive(&mut r);
        // 0.5 cores over 6 s = 3 CPU seconds for a million deliveries: 3 us each.
        assert!((r.derived["server_cpu_us_per_delivered_chat"] - 3.0).abs() < 1e-9);
        assert_eq!(r.derived["peak_sockets"], 2000.0);
        assert_eq!(r.derived["peak_sessions"], 1000.0);
        assert_eq!(r.derived["server_bytes_per_socket"], 5000.0);
        assert!((r.derived["server_cpu_cores_avg"] - 0.5).abs() < 1e-9);
        assert_eq!(r.derived["sessions_completed_per_sec"], 5.0);
    }

    #[test]
    fn fanout_cost_is_the_targets_cpu_over_the_deliveries_inside_the_send_window() {
        let mut r = RunReport { targets: vec!["a".into(), "b".into()], ..Default::default() };
        // Sending from 10 s to 30 s; 10,000 deliveries a second; each target burns 0.2 cores in
        // the window and 1 core outside it (sign-ins, joins, drain).
        for k in 0..=20 {
            let t = 2.0 * k as f64;
            let delivered = ((t - 10.0).clamp(0.0, 20.0) * 10_000.0) as i64;
            let mut p = TimelinePoint { t, ..Default::default() };
            p.gauges.insert("delivered".into(), delivered);
            r.timeline.push(p);
            let cpu = t.min(10.0) + (t.clamp(10.0, 30.0) - 10.0) * 0.2 + (t - 30.0).max(0.0);
            for target in ["a", "b"] {
                r.servers.push(ServerSample { t, target: target.into(), cpu_seconds: cpu, ..Default::default() });
            }
        }
        for room in 0..2 {
            r.counters.insert(format!("fanout_sent.{room}"), 1000);
            r.counters.insert(format!("fanout_joined.{room}"), 100);
        }
        r.counters.insert("chat_delivered".into(), 199_990);
        fanout_figures(&mut r, 2, 10.0, 30.0);
        assert_eq!(r.derived["fanout_expected"], 200_000.0);
        assert_eq!(r.derived["fanout_lost"], 10.0);
        assert!((r.derived["fanout_loss_ratio"] - 5e-5).abs() < 1e-12);
        assert!((r.derived["fanout_delivered_per_sec"] - 10_000.0).abs() < 1e-6);
        // 2 targets × 0.2 cores / 10,000 deliveries/s = 40 µs each.
        assert!((r.derived["server_cpu_us_per_delivery"] - 40.0).abs() < 1e-6, "{:?}", r.derived);
        assert!((r.derived["server_cpu_cores_in_window"] - 0.4).abs() < 1e-9);
    }
}
