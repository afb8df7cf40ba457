//! The result of a run: a table in the terminal, `report.json`, and `report.html` with plots.

use crate::stats::Summary;
use anyhow::Context;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// One point of the run's timeline (every progress interval).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TimelinePoint {
    /// Seconds since the run started.
    pub t: f64,
    /// Gauges summed over workers (sessions, sockets).
    pub gauges: BTreeMap<String, i64>,
    /// p99 of each latency in this interval, ms.
    pub p99_ms: BTreeMap<String, f64>,
    /// Errors so far.
    pub errors: u64,
}

/// A server's resource sample, read from its `/metrics`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ServerSample {
    /// Seconds since the run started.
    pub t: f64,
    /// Which target.
    pub target: String,
    /// Resident memory, bytes.
    pub rss_bytes: f64,
    /// CPU seconds used so far.
    pub cpu_seconds: f64,
    /// Open file descriptors.
    pub open_fds: f64,
    /// View counting's counters so far.
    #[serde(default)]
    pub audience: crate::scrape::AudienceFigures,
}

/// Everything a run measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunReport {
    /// Scenario name.
    pub scenario: String,
    /// Parameters as given.
    pub params: serde_json::Value,
    /// Target base URLs.
    pub targets: Vec<String>,
    /// When the run started (RFC 3339).
    pub started_at: String,
    /// Wall time, seconds.
    pub elapsed_secs: f64,
    /// Latency summaries by name.
    pub latencies: BTreeMap<String, Summary>,
    /// Errors by code.
    pub errors: BTreeMap<String, u64>,
    /// Counters (sessions completed, messages delivered, ...).
    pub counters: BTreeMap<String, u64>,
    /// Timeline of gauges and interval p99s.
    pub timeline: Vec<TimelinePoint>,
    /// Server resource samples.
    pub servers: Vec<ServerSample>,
    /// Derived figures (memory per socket, rates) and notes.
    pub derived: BTreeMap<String, f64>,
    /// Free-text notes (limits hit, warnings).
    pub notes: Vec<String>,
    /// The faults injected (`--chaos`), in order.
    #[serde(default)]
    pub chaos: Vec<crate::chaos::FaultRecord>,
}

impl RunReport {
    /// Total errors.
    pub fn error_total(&self) -> u64 {
        self.errors.values().sum()
    }

    /// The terminal table.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "\nscenario {}  targets {}  elapsed {:.1}s",
            self.scenario,
            self.targets.join(","),
            self.elapsed_secs
        );
        let _ = writeln!(
            s,
            "{:<22} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "latency (ms)", "count", "p50", "p90", "p99", "p99.9", "max"
        );
        for (name, l) in &self.latencies {
            let _ = writeln!(
                s,
                "{:<22} {:>9} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
                name, l.count, l.p50_ms, l.p90_ms, l.p99_ms, l.p999_ms, l.max_ms
            );
        }
        if !self.counters.is_empty() {
            let _ = writeln!(s, "counters:");
            for (k, v) in &self.counters {
                let _ = writeln!(s, "  {k:<30} {v}");
            }
        }
        if !self.derived.is_empty() {
            let _ = writeln!(s, "derived:");
            for (k, v) in &self.derived {
                let _ = writeln!(s, "  {k:<30} {v:.2}");
            }
        }
        if !self.chaos.is_empty() {
            let _ = writeln!(s, "chaos (counted under the fault in effect; fault- is before the first):");
            for (i, f) in self.chaos.iter().enumerate() {
                let what = f.error.as_deref().map_or_else(|| f.detail.clone(), |e| format!("FAILED: {e}"));
                let _ = writeln!(s, "  fault{i} {} at {:.1}s: {what}", f.fault, f.at_secs);
                let prefix = format!("fault{i}_");
                for (k, v) in self.counters.iter().filter(|(k, _)| k.starts_with(&prefix)) {
                    let _ = writeln!(s, "    {:<28} {v}", &k[prefix.len()..]);
                }
                if let Some(r) = self.latencies.get(&format!("{prefix}recovery")) {
                    let _ = writeln!(s, "    {:<28} p50 {:.0} ms, max {:.0} ms", "time to recover", r.p50_ms, r.max_ms);
                }
            }
            let _ = writeln!(
                s,
                "  sessions lost {}, minutes skipped {}, minutes doubled {}",
                self.counters.get("sessions_failed").copied().unwrap_or(0),
                self.counters.get("minutes_skipped").copied().unwrap_or(0),
                self.counters.get("minutes_doubled").copied().unwrap_or(0)
            );
        }
        let _ = writeln!(s, "errors: {}", self.error_total());
        for (code, n) in &self.errors {
            let _ = writeln!(s, "  {code:<30} {n}");
        }
        for n in &self.notes {
            let _ = writeln!(s, "note: {n}");
        }
        s
    }

    /// Write `report.json` and `report.html` into `dir` (created if needed).
    ///
    /// # Errors
    /// The directory or files cannot be written.
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("Failed to create {}", dir.display()))?;
        std::fs::write(dir.join("report.json"), serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("Failed to write {}", dir.join("report.json").display()))?;
        std::fs::write(dir.join("report.html"), self.html()).with_context(|| "Failed to write report.html")?;
        Ok(())
    }

    fn html(&self) -> String {
        let latency_series: BTreeMap<String, Vec<(f64, f64)>> = {
            let mut m: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
            for p in &self.timeline {
                for (k, v) in &p.p99_ms {
                    m.entry(k.clone()).or_default().push((p.t, *v));
                }
            }
            m
        };
        let gauge_series: BTreeMap<String, Vec<(f64, f64)>> = {
            let mut m: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
            for p in &self.timeline {
                for (k, v) in &p.gauges {
                    m.entry(k.clone()).or_default().push((p.t, *v as f64));
                }
            }
            m
        };
        let memory_series: BTreeMap<String, Vec<(f64, f64)>> = {
            let mut m: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
            for s in &self.servers {
                m.entry(s.target.clone()).or_default().push((s.t, s.rss_bytes / (1024.0 * 1024.0)));
            }
            m
        };
        let mut html = String::from(
            "<!doctype html><meta charset=utf-8><title>Tandem load test</title>\
             <style>body{font-family:sans-serif;max-width:960px;margin:2em auto}table{border-collapse:collapse}\
             td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th:first-child,td:first-child{text-align:left}\
             .legend span{margin-right:1em}</style>",
        );
        let _ = write!(
            html,
            "<h1>Tandem load test: {}</h1><p>targets {} · started {} · {:.1}s · errors {}</p>",
            esc(&self.scenario),
            esc(&self.targets.join(", ")),
            esc(&self.started_at),
            self.elapsed_secs,
            self.error_total()
        );
        html.push_str("<h2>Latency (ms)</h2><table><tr><th>name</th><th>count</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>");
        for (name, l) in &self.latencies {
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td></tr>",
                esc(name),
                l.count,
                l.p50_ms,
                l.p90_ms,
                l.p99_ms,
                l.p999_ms,
                l.max_ms
            );
        }
        html.push_str("</table>");
        for (title, series) in [
            ("p99 latency per interval (ms) over time (s)", &latency_series),
            ("Sessions and sockets held over time (s)", &gauge_series),
            ("Server resident memory (MiB) over time (s)", &memory_series),
        ] {
            let _ = write!(html, "<h2>{}</h2>", esc(title));
            html.push_str(&plot(series));
        }
        html.push_str("<h2>Errors</h2><table>");
        for (code, n) in &self.errors {
            let _ = write!(html, "<tr><td>{}</td><td>{}</td></tr>", esc(code), n);
        }
        html.push_str("</table><h2>Counters and derived figures</h2><table>");
        for (k, v) in &self.counters {
            let _ = write!(html, "<tr><td>{}</td><td>{}</td></tr>", esc(k), v);
        }
        for (k, v) in &self.derived {
            let _ = write!(html, "<tr><td>{}</td><td>{:.2}</td></tr>", esc(k), v);
        }
        html.push_str("</table>");
        for n in &self.notes {
            let _ = write!(html, "<p>note: {}</p>", esc(n));
        }
        let _ = write!(
            html,
            "<h2>Parameters</h2><pre>{}</pre>",
            esc(&serde_json::to_string_pretty(&self.params).unwrap_or_default())
        );
        html
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// An SVG line chart of `series` with an HTML legend (labels are HTML, so no fonts are needed).
fn plot(series: &BTreeMap<String, Vec<(f64, f64)>>) -> String {
    let points = series.values().flatten();
    let (mut max_x, mut max_y) = (1.0f64, 1.0f64);
    for (x, y) in points {
        max_x = max_x.max(*x);
        max_y = max_y.max(*y);
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 280)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let chart = ChartBuilder::on(&root).margin(10).build_cartesian_2d(0f64..max_x * 1.02, 0f64..max_y * 1.1);
        if let Ok(mut chart) = chart {
            for (i, (_, pts)) in series.iter().enumerate() {
                let _ =
                    chart.draw_series(LineSeries::new(pts.iter().copied(), COLORS[i % COLORS.len()].stroke_width(2)));
            }
        }
        let _ = root.present();
    }
    let mut legend = String::from("<div class=legend>");
    for (i, name) in series.keys().enumerate() {
        let c = COLORS[i % COLORS.len()];
        let _ = write!(legend, "<span style=\"color:rgb({},{},{})\">■ {}</span>", c.0, c.1, c.2, esc(name));
    }
    let _ = write!(legend, "<span>x: 0–{max_x:.0}, y: 0–{max_y:.1}</span></div>");
    svg + &legend
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_json_and_html_with_plots() {
        let mut r = RunReport { scenario: "private".into(), targets: vec!["http://x".into()], ..Default::default() };
        r.latencies.insert(
            "signaling_relay".into(),
            Summary { count: 10, p50_ms: 1.0, p90_ms: 2.0, p99_ms: 3.0, p999_ms: 4.0, max_ms: 5.0 },
        );
        for t in 0..5 {
            let mut p = TimelinePoint { t: t as f64, ..Default::default() };
            p.gauges.insert("sessions".into(), t * 10);
            p.p99_ms.insert("signaling_relay".into(), 2.5);
            r.timeline.push(p);
            r.servers.push(ServerSample {
                t: t as f64,
                target: "http://x".into(),
                rss_bytes: 1e8,
                ..Default::default()
            });
        }
        r.errors.insert("http_409".into(), 2);
        let dir = std::env::temp_dir().join(format!("tandem-report-{}", uuid::Uuid::new_v4()));
        r.write(&dir).unwrap();
        let back: RunReport = serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
        assert_eq!(back.error_total(), 2);
        let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
        assert_eq!(html.matches("<svg").count(), 3);
        assert!(html.contains("<polyline") || html.contains("<path"), "plots have lines");
        assert!(html.contains("signaling_relay"));
        assert!(r.table().contains("signaling_relay"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
