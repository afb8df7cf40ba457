//! Command line: `seed`, the scenarios, and the hidden `worker` a run spreads itself over.

use clap::{Args, Parser, Subcommand};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// Drive a Tandem deployment like real clients and report what it holds.
#[derive(Debug, Parser)]
#[command(name = "tandem-loadtest", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the creator and fan accounts a run signs in with (not counted in any run).
    Seed(SeedArgs),
    /// N creator/fan pairs: request, accept, join, offer/answer/candidates, heartbeats, chat, hold, end.
    Private(RunArgs),
    /// R broadcasts with V viewers each; hosts chat; measures fan-out to every viewer.
    Broadcast(RunArgs),
    /// R broadcasts with V viewers each; once every viewer is in, hosts chat so that `--rate`
    /// deliveries per second are offered; reports delivered/s, loss, latency and server CPU per
    /// delivery (chat must not be rate-limited: `TANDEM_RATE_WS_CHAT=off` on the targets).
    Fanout(RunArgs),
    /// Private sessions opened and ended at a fixed rate (the brokering path).
    Churn(RunArgs),
    /// Password sign-ins at `--rate` per second for `--duration` over the seeded accounts
    /// (`--pairs` pairs: creators and fans), each client waiting at most 2 s: sign-in
    /// throughput, latency and the share the server shed (503 `overloaded` with `Retry-After`).
    Signin(RunArgs),
    /// A blend: most pairs hold private sessions, some creators broadcast to the other fans, and a
    /// share of sessions churn, for soak runs.
    Mixed(RunArgs),
    /// Internal: one shard of a run in its own process (spawned by the run itself).
    #[command(hide = true)]
    Worker {
        /// The shard description, JSON.
        #[arg(long)]
        spec: String,
    },
}

/// Where accounts are and how many.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
pub struct Common {
    /// Base URL of a node; repeat for several nodes (clients are spread over them).
    #[arg(long = "target", default_value = "http://127.0.0.1:8080")]
    pub targets: Vec<String>,
    /// Number of creator/fan pairs (private, churn, mixed) — also the accounts seeded.
    #[arg(long, default_value_t = 100)]
    pub pairs: usize,
    /// Accounts file written by `seed` (default: loadtest-out/accounts.jsonl).
    #[arg(long, default_value = "loadtest-out/accounts.jsonl")]
    pub accounts: PathBuf,
}

/// `seed` options.
#[derive(Debug, Clone, Args)]
pub struct SeedArgs {
    #[command(flatten)]
    pub common: Common,
    /// Prefix of the seeded handles and emails.
    #[arg(long, default_value = "lt")]
    pub prefix: String,
    /// Concurrent signups.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
}

/// Options of every scenario.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
pub struct RunArgs {
    #[command(flatten)]
    pub common: Common,
    /// How long to hold the steady state after ramp-up (e.g. 60s, 10m).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub duration: Duration,
    /// New sessions (pairs, viewers) started per second during ramp-up.
    #[arg(long, default_value_t = 200.0)]
    pub ramp: f64,
    /// Output folder for report.json and report.html.
    #[arg(long, default_value = "loadtest-out/run")]
    pub out: PathBuf,
    /// Client processes to spread sockets over (each may hold only so many open files);
    /// 0 runs in this process. Default: enough for ~8,000 sockets each.
    #[arg(long)]
    pub procs: Option<usize>,
    /// Source addresses (127.0.0.2, 127.0.0.3, ...) to spread loopback connections over.
    #[arg(long, default_value_t = 8)]
    pub sources: u8,
    /// broadcast, fanout: number of rooms.
    #[arg(long, default_value_t = 10)]
    pub rooms: usize,
    /// broadcast, fanout: viewers per room.
    #[arg(long, default_value_t = 50)]
    pub viewers: usize,
    /// churn: sessions opened (and ended) per second; fanout: deliveries offered per second.
    #[arg(long, default_value_t = 50.0)]
    pub rate: f64,
    /// Seconds between heartbeats of each participant.
    #[arg(long, default_value_t = 10)]
    pub heartbeat_secs: u64,
    /// Seconds between chat lines per session during the hold (0: none).
    #[arg(long, default_value_t = 30)]
    pub chat_secs: u64,
    /// private: seconds between extra signaling relays per session during the hold (a trickled
    /// ICE candidate, fan to creator), 0 for none. Relays sent once every session is up, when no
    /// one is signing in any more, are reported apart as `signaling_relay_steady`.
    #[arg(long, default_value_t = 0)]
    pub relay_secs: u64,
    /// private: creators charge this per minute and fans top up enough for the hold first
    /// (needs `TANDEM_DEV_TOPUPS=1` on the targets); 0 leaves sessions free.
    #[arg(long, default_value_t = 0)]
    pub price_per_minute: i64,
    /// private: faults to inject during the run, e.g.
    /// `kill-node@120s,redis-restart@240s,pg-pause:5s@360s` (needs `--chaos-control`). Sessions
    /// then reconnect and resume like real clients, and the report counts per fault what was
    /// resumed, ended with a reason, or lost.
    #[arg(long)]
    pub chaos: Option<String>,
    /// The nodes, Redis and PostgreSQL the chaos schedule may signal (JSON written by
    /// `CHAOS=1 loadtest/run-multinode.sh`).
    #[arg(long)]
    pub chaos_control: Option<PathBuf>,
}

/// Parse `90s`, `10m`, `1h`, `500ms` or a bare number of seconds.
///
/// # Errors
/// Anything else.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s.find(|c: char| !c.is_ascii_digit() && c != '.').map(|i| s.split_at(i)).unwrap_or((s, "s"));
    let n: f64 = num.parse().map_err(|_| format!("invalid duration `{s}`"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("invalid duration unit in `{s}` (use ms, s, m or h)")),
    };
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn the_documented_command_lines_parse() {
        let c = Cli::try_parse_from(["tandem-loadtest", "seed", "--target", "http://a:1", "--pairs", "10"]).unwrap();
        assert!(matches!(c.command, Command::Seed(ref s) if s.common.pairs == 10));
        let c = Cli::try_parse_from([
            "tandem-loadtest",
            "private",
            "--target",
            "http://a:1",
            "--target",
            "http://b:2",
            "--pairs",
            "5",
            "--duration",
            "60s",
            "--out",
            "x",
        ])
        .unwrap();
        match c.command {
            Command::Private(r) => {
                assert_eq!(r.common.targets.len(), 2);
                assert_eq!(r.duration, Duration::from_secs(60));
            }
            _ => panic!("wrong command"),
        }
    }
}
