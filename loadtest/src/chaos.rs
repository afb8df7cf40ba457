//! Chaos mode: faults injected on a schedule into the deployment under test, and how each one
//! is attributed in the report.
//!
//! `--chaos kill-node@120s,redis-restart@240s,pg-pause:5s@360s` with `--chaos-control FILE`,
//! the JSON file `loadtest/run-multinode.sh` writes when `CHAOS=1` (the nodes' pids, and the
//! Redis and PostgreSQL it started for the run, so the machine's own servers are never touched):
//!
//! - `kill-node[:N]` — `SIGKILL` node `N` (default: the last), no goodbye;
//! - `redis-restart` — `SIGKILL` Redis and start it again, empty, with the same command line;
//! - `pg-pause:D` — `SIGSTOP` the PostgreSQL server and its backends for `D`, then `SIGCONT`.
//!
//! Times count from the start of the run. Sessions count what they live through under the
//! fault in effect when it happens (`fault<i>_…` counters; `fault-` before the first).

use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::{Duration, Instant};

/// What to break.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FaultKind {
    /// Kill a node without a goodbye (index into the control file's nodes; `None`: the last).
    KillNode(Option<usize>),
    /// Kill Redis and start it again empty.
    RedisRestart,
    /// Freeze PostgreSQL for this long.
    PgPause(Duration),
}

/// One scheduled fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// When, from the start of the run.
    pub at: Duration,
    /// What.
    pub kind: FaultKind,
}

impl Fault {
    /// Its name in the report, e.g. `kill-node@120s`.
    pub fn label(&self) -> String {
        let what = match self.kind {
            FaultKind::KillNode(Some(n)) => format!("kill-node:{n}"),
            FaultKind::KillNode(None) => "kill-node".into(),
            FaultKind::RedisRestart => "redis-restart".into(),
            FaultKind::PgPause(d) => format!("pg-pause:{}s", d.as_secs_f64()),
        };
        format!("{what}@{}s", self.at.as_secs_f64())
    }
}

/// Parse a schedule: comma-separated `what@time`, sorted by time.
///
/// # Errors
/// An unknown fault or a malformed time.
pub fn parse_schedule(s: &str) -> Result<Vec<Fault>, String> {
    let mut faults = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (what, at) = part.split_once('@').ok_or_else(|| format!("`{part}`: expected what@time"))?;
        let at = crate::cli::parse_duration(at)?;
        let (name, arg) = what.split_once(':').map_or((what, None), |(n, a)| (n, Some(a)));
        let kind = match (name, arg) {
            ("kill-node", None) => FaultKind::KillNode(None),
            ("kill-node", Some(n)) => {
                FaultKind::KillNode(Some(n.parse().map_err(|_| format!("`{part}`: node index must be a number"))?))
            }
            ("redis-restart", None) => FaultKind::RedisRestart,
            ("pg-pause", Some(d)) => FaultKind::PgPause(crate::cli::parse_duration(d)?),
            ("pg-pause", None) => return Err(format!("`{part}`: pg-pause needs a duration, e.g. pg-pause:5s@360s")),
            _ => return Err(format!("`{part}`: unknown fault (kill-node[:N], redis-restart, pg-pause:D)")),
        };
        faults.push(Fault { at, kind });
    }
    if faults.is_empty() {
        return Err("the chaos schedule is empty".into());
    }
    faults.sort_by_key(|f| f.at);
    Ok(faults)
}

/// The prefix of counters for something that happened `elapsed` into the run.
pub fn bucket(faults: &[Fault], elapsed: Duration) -> String {
    match faults.iter().rposition(|f| f.at <= elapsed) {
        Some(i) => format!("fault{i}_"),
        None => "fault-_".into(),
    }
}

/// What the tool may signal, written by `run-multinode.sh` (`CHAOS=1`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Control {
    /// The nodes, in target order.
    pub nodes: Vec<NodeControl>,
    /// The run's own Redis.
    pub redis: Option<RedisControl>,
    /// The run's own PostgreSQL (its postmaster).
    pub postgres: Option<PgControl>,
}

/// One node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeControl {
    /// Its base URL.
    pub target: String,
    /// Its process id.
    pub pid: i32,
}

/// The run's Redis.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RedisControl {
    /// Its process id.
    pub pid: i32,
    /// The command line that starts it again.
    pub cmd: Vec<String>,
}

/// The run's PostgreSQL.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PgControl {
    /// The postmaster's process id.
    pub pid: i32,
}

/// What one fault did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FaultRecord {
    /// Its label.
    pub fault: String,
    /// When it was injected, seconds into the run.
    pub at_secs: f64,
    /// What was done.
    pub detail: String,
    /// Why it could not be done, if so.
    pub error: Option<String>,
}

/// Read the control file.
///
/// # Errors
/// Missing or malformed.
pub fn load_control(path: &Path) -> anyhow::Result<Control> {
    let raw = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&raw).with_context(|| format!("{} is not a chaos control file", path.display()))
}

fn signal(pid: i32, sig: libc::c_int) -> std::io::Result<()> {
    // SAFETY: kill(2) with a pid and a signal number has no memory effects.
    if unsafe { libc::kill(pid, sig) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The children of `pid` (PostgreSQL's backends), from /proc.
fn children(pid: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .and_then(|s| s.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().nth(1).map(str::to_owned)))
                .flatten()
                .and_then(|pp| pp.parse::<i32>().ok())
                == Some(pid)
        })
        .collect()
}

/// Inject every fault at its time (from `start`); returns what each did.
pub async fn run(faults: Vec<Fault>, mut control: Control, start: Instant) -> Vec<FaultRecord> {
    let mut records = Vec::new();
    for fault in faults {
        tokio::time::sleep_until((start + fault.at).into()).await;
        let at_secs = start.elapsed().as_secs_f64();
        let outcome = inject(fault, &mut control).await;
        let (detail, error) = match outcome {
            Ok(d) => (d, None),
            Err(e) => (String::new(), Some(format!("{e:#}"))),
        };
        eprintln!("chaos: {} at {at_secs:.1}s: {}", fault.label(), error.as_deref().unwrap_or(&detail));
        records.push(FaultRecord { fault: fault.label(), at_secs, detail, error });
    }
    records
}

async fn inject(fault: Fault, control: &mut Control) -> anyhow::Result<String> {
    match fault.kind {
        FaultKind::KillNode(which) => {
            let i = which.unwrap_or(control.nodes.len().saturating_sub(1));
            let node = control.nodes.get(i).with_context(|| format!("no node {i} in the control file"))?;
            signal(node.pid, libc::SIGKILL).with_context(|| format!("kill -9 {}", node.pid))?;
            Ok(format!("killed node {i} ({}, pid {})", node.target, node.pid))
        }
        FaultKind::RedisRestart => {
            let redis = control.redis.as_mut().context("no Redis in the control file")?;
            signal(redis.pid, libc::SIGKILL).with_context(|| format!("kill -9 {}", redis.pid))?;
            // Wait for it to be gone so the new one can bind the port.
            for _ in 0..100 {
                if signal(redis.pid, 0).is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let (exe, args) = redis.cmd.split_first().context("empty Redis command")?;
            let child = std::process::Command::new(exe)
                .args(args)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .context("cannot start Redis again")?;
            let old = redis.pid;
            redis.pid = child.id() as i32;
            Ok(format!("killed Redis (pid {old}) and started it empty (pid {})", redis.pid))
        }
        FaultKind::PgPause(d) => {
            let pg = control.postgres.as_ref().context("no PostgreSQL in the control file")?;
            let mut all = vec![pg.pid];
            all.extend(children(pg.pid));
            for p in &all {
                let _ = signal(*p, libc::SIGSTOP);
            }
            tokio::time::sleep(d).await;
            // Backends started meanwhile cannot exist (the postmaster was stopped); resume all.
            for p in all.iter().rev() {
                let _ = signal(*p, libc::SIGCONT);
            }
            Ok(format!("paused PostgreSQL ({} processes) for {:.1}s", all.len(), d.as_secs_f64()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_parse_sorted_and_bad_ones_are_refused() {
        let f = parse_schedule("redis-restart@240s, kill-node@120s,pg-pause:5s@6m,kill-node:1@10").unwrap();
        assert_eq!(
            f,
            vec![
                Fault { at: Duration::from_secs(10), kind: FaultKind::KillNode(Some(1)) },
                Fault { at: Duration::from_secs(120), kind: FaultKind::KillNode(None) },
                Fault { at: Duration::from_secs(240), kind: FaultKind::RedisRestart },
                Fault { at: Duration::from_secs(360), kind: FaultKind::PgPause(Duration::from_secs(5)) },
            ]
        );
        assert_eq!(f[3].label(), "pg-pause:5s@360s");
        for bad in ["", "kill-node", "reboot@10s", "pg-pause@10s", "kill-node:x@1s", "redis-restart@soon"] {
            assert!(parse_schedule(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn events_are_counted_under_the_fault_in_effect() {
        let f = parse_schedule("kill-node@10s,redis-restart@20s").unwrap();
        assert_eq!(bucket(&f, Duration::from_secs(5)), "fault-_");
        assert_eq!(bucket(&f, Duration::from_secs(10)), "fault0_");
        assert_eq!(bucket(&f, Duration::from_secs(25)), "fault1_");
    }
}
