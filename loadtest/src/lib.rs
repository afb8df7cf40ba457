//! `tandem-loadtest`: drives a running Tandem deployment from outside, exactly as real clients
//! do (HTTP + WebSocket), and reports what it holds and at what latency.
//!
//! # Layout
//! - [`cli`]: the command line (`seed`, `private`, `broadcast`, `churn`, `mixed`).
//! - [`orchestrate`]: spreads a run over worker processes, progress, server sampling, report.
//! - [`scenarios`]: what each simulated client does.
//! - [`api`], [`signal`]: Tandem's HTTP API and signaling socket as a client sees them.
//! - [`chaos`]: faults injected on a schedule (`--chaos`) and their attribution.
//! - [`accounts`]: seeded accounts.
//! - [`stats`]: HDR histograms, error counts and gauges, mergeable across processes.
//! - [`report`]: terminal table, `report.json`, `report.html` with plots.
//! - [`scrape`]: server memory, CPU and open files from each target's `/metrics`.
//! - [`limits`]: the open-files limit, raised where allowed.
//! - [`net`]: connections spread over source addresses.
pub mod accounts;
pub mod api;
pub mod chaos;
pub mod cli;
pub mod limits;
pub mod net;
pub mod orchestrate;
pub mod report;
pub mod scenarios;
pub mod scrape;
pub mod signal;
pub mod stats;
