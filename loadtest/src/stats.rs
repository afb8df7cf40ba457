//! Measurements: named HDR latency histograms (microseconds), error counts by code, and
//! gauges, mergeable across tasks and worker processes.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// Latency measurements of a run, by name (e.g. `signaling_relay`).
#[derive(Debug, Clone, Default)]
pub struct Latencies {
    hists: BTreeMap<String, Histogram<u64>>,
}

fn new_hist() -> Histogram<u64> {
    // 1 µs to 10 min at 3 significant digits.
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("static histogram bounds are valid")
}

impl Latencies {
    /// Record one sample.
    pub fn record(&mut self, name: &str, d: Duration) {
        let us = (d.as_micros() as u64).clamp(1, 600_000_000);
        let h = self.hists.entry(name.to_string()).or_insert_with(new_hist);
        // Saturate instead of failing on out-of-range values.
        let _ = h.record(us);
    }

    /// Fold `other` into this.
    pub fn merge(&mut self, other: &Latencies) {
        for (name, h) in &other.hists {
            let mine = self.hists.entry(name.clone()).or_insert_with(new_hist);
            let _ = mine.add(h);
        }
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.hists.values().all(|h| h.is_empty())
    }

    /// Summary of every histogram.
    pub fn summary(&self) -> BTreeMap<String, Summary> {
        self.hists.iter().filter(|(_, h)| !h.is_empty()).map(|(n, h)| (n.clone(), Summary::of(h))).collect()
    }

    /// Encode for transport between processes (HDR V2, base64).
    pub fn encode(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (name, h) in &self.hists {
            let mut buf = Vec::new();
            if V2Serializer::new().serialize(h, &mut buf).is_ok() {
                out.insert(name.clone(), STANDARD.encode(buf));
            }
        }
        out
    }

    /// Decode what [`Latencies::encode`] produced; malformed entries are skipped.
    pub fn decode(encoded: &BTreeMap<String, String>) -> Self {
        let mut hists = BTreeMap::new();
        for (name, b64) in encoded {
            let Ok(bytes) = STANDARD.decode(b64) else { continue };
            if let Ok(h) = Deserializer::new().deserialize::<u64, _>(&mut bytes.as_slice()) {
                hists.insert(name.clone(), h);
            }
        }
        Self { hists }
    }
}

/// Percentiles of one histogram, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Largest sample.
    pub max_ms: f64,
}

impl Summary {
    fn of(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }
}

/// Counters and gauges shared by every task of one process.
#[derive(Debug, Default)]
pub struct Recorder {
    inner: Mutex<RecorderInner>,
}

#[derive(Debug, Default)]
struct RecorderInner {
    /// Everything since the start.
    total: Latencies,
    /// Since the last [`Recorder::take_interval`].
    interval: Latencies,
    errors: BTreeMap<String, u64>,
    counters: BTreeMap<String, u64>,
    gauges: BTreeMap<String, i64>,
}

impl Recorder {
    /// Record a latency sample.
    pub fn latency(&self, name: &str, d: Duration) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.total.record(name, d);
        g.interval.record(name, d);
    }

    /// Record several samples of one latency under one lock.
    pub fn latencies(&self, name: &str, samples: &[Duration]) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        for d in samples {
            g.total.record(name, *d);
            g.interval.record(name, *d);
        }
    }

    /// Count an error by its code.
    pub fn error(&self, code: &str) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        *g.errors.entry(code.to_string()).or_default() += 1;
    }

    /// Add to a counter.
    pub fn count(&self, name: &str, n: u64) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        *g.counters.entry(name.to_string()).or_default() += n;
    }

    /// Move a gauge (sessions held, sockets open).
    pub fn gauge_add(&self, name: &str, delta: i64) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        *g.gauges.entry(name.to_string()).or_default() += delta;
    }

    /// A progress sample: the interval's latencies (reset) plus current counters and gauges.
    pub fn take_interval(&self) -> Progress {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let interval = std::mem::take(&mut g.interval);
        Progress {
            interval: interval.encode(),
            errors: g.errors.clone(),
            counters: g.counters.clone(),
            gauges: g.gauges.clone(),
        }
    }

    /// Final totals.
    pub fn totals(&self) -> Totals {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        Totals { latencies: g.total.encode(), errors: g.errors.clone(), counters: g.counters.clone() }
    }
}

/// A periodic sample sent from a worker to the orchestrator.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Progress {
    /// Latencies recorded in this interval (encoded histograms).
    pub interval: BTreeMap<String, String>,
    /// Errors so far, by code.
    pub errors: BTreeMap<String, u64>,
    /// Counters so far.
    pub counters: BTreeMap<String, u64>,
    /// Gauges now.
    pub gauges: BTreeMap<String, i64>,
}

/// A worker's final figures.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Totals {
    /// Every latency sample (encoded histograms).
    pub latencies: BTreeMap<String, String>,
    /// Errors by code.
    pub errors: BTreeMap<String, u64>,
    /// Counters.
    pub counters: BTreeMap<String, u64>,
}

/// Sum maps of counts.
pub fn add_counts(into: &mut BTreeMap<String, u64>, from: &BTreeMap<String, u64>) {
    for (k, v) in from {
        *into.entry(k.clone()).or_default() += v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_histograms_keeps_every_sample() {
        let mut a = Latencies::default();
        let mut b = Latencies::default();
        for ms in 1..=100 {
            a.record("x", Duration::from_millis(ms));
        }
        for _ in 0..100 {
            b.record("x", Duration::from_millis(1000));
        }
        b.record("y", Duration::from_micros(5));
        a.merge(&b);
        let s = a.summary();
        assert_eq!(s["x"].count, 200);
        assert!((s["x"].p50_ms - 100.0).abs() < 1.0, "{:?}", s["x"]);
        assert!((s["x"].max_ms - 1000.0).abs() < 1.0);
        assert_eq!(s["y"].count, 1);
    }

    #[test]
    fn encoding_round_trips_between_processes() {
        let mut a = Latencies::default();
        for us in [10, 200, 3000, 40000] {
            a.record("relay", Duration::from_micros(us));
        }
        let back = Latencies::decode(&a.encode());
        assert_eq!(back.summary(), a.summary());
        let mut bad = BTreeMap::new();
        bad.insert("junk".to_string(), "!!!".to_string());
        assert!(Latencies::decode(&bad).is_empty());
    }

    #[test]
    fn intervals_reset_but_totals_do_not() {
        let r = Recorder::default();
        r.latency("join", Duration::from_millis(3));
        r.error("409");
        r.gauge_add("sessions", 2);
        let p1 = r.take_interval();
        assert_eq!(Latencies::decode(&p1.interval).summary()["join"].count, 1);
        let p2 = r.take_interval();
        assert!(Latencies::decode(&p2.interval).is_empty());
        assert_eq!(p2.errors["409"], 1);
        assert_eq!(p2.gauges["sessions"], 2);
        assert_eq!(Latencies::decode(&r.totals().latencies).summary()["join"].count, 1);
    }
}
