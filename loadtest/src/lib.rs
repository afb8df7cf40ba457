//! `tandem-loadtest`: drives a running Tandem deployment from outside, exactly as real clients
//! do (HTTP + WebSocket), and reports what it holds and at what latency.
//!
//! # Layout
//! - [`stats`]: HDR histograms, error counts and gauges, mergeable across processes.
//! - [`report`]: terminal table, `report.json`, `report.html` with plots.
//! - [`scrape`]: server memory, CPU and open files from each target's `/metrics`.
//! - [`limits`]: the open-files limit, raised where allowed.
//! - [`net`]: connections spread over source addresses.
pub mod limits;
pub mod net;
pub mod report;
pub mod scrape;
pub mod stats;
