//! `tandem-loadtest`: see `tandem-loadtest --help`.

use clap::Parser;
use tandem_loadtest::cli::{Cli, Command};
use tandem_loadtest::orchestrate::{self, Scenario};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Worker { spec } => orchestrate::worker_main(&spec).await.map(|_| true),
        Command::Seed(s) => {
            let target = s.common.targets.first().cloned().unwrap_or_default();
            tandem_loadtest::accounts::seed(&target, s.common.pairs, &s.prefix, s.concurrency, &s.common.accounts)
                .await
                .map(|n| {
                    println!("seeded {n} accounts on {target} into {}", s.common.accounts.display());
                    true
                })
        }
        Command::Private(a) => run(Scenario::Private, a).await,
        Command::Broadcast(a) => run(Scenario::Broadcast, a).await,
        Command::Fanout(a) => run(Scenario::Fanout, a).await,
        Command::Churn(a) => run(Scenario::Churn, a).await,
        Command::Signin(a) => run(Scenario::Signin, a).await,
        Command::Mixed(a) => run(Scenario::Mixed, a).await,
    };
    match result {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

/// Run a scenario, print its table, and succeed only with zero errors.
async fn run(s: Scenario, args: tandem_loadtest::cli::RunArgs) -> anyhow::Result<bool> {
    let out = args.out.clone();
    let report = orchestrate::run(s, args).await?;
    println!("{}", report.table());
    println!("report: {}/report.html and report.json", out.display());
    let count = |k: &str| report.counters.get(k).copied().unwrap_or(0);
    if report.scenario == "signin" {
        // Shed sign-ins are the point; what must not happen is a client left without an answer
        // within its patience, or a 503 without Retry-After.
        return Ok(count("signin_timeout") == 0
            && count("signin_failed") == 0
            && count("signin_shed_without_retry_after") == 0);
    }
    if !report.chaos.is_empty() {
        // Under faults, retried errors are expected; what must not happen is a session lost
        // without a reason or a minute charged twice or not at all.
        return Ok(count("sessions_failed") == 0 && count("minutes_skipped") == 0 && count("minutes_doubled") == 0);
    }
    Ok(report.error_total() == 0 && count("sessions_failed") == 0)
}
