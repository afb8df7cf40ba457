//! Reads a target's `/metrics` (Prometheus text) for memory, CPU and open files.

/// Resource figures of one server process.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessFigures {
    /// `process_resident_memory_bytes`.
    pub rss_bytes: f64,
    /// `process_cpu_seconds_total`.
    pub cpu_seconds: f64,
    /// `process_open_fds`.
    pub open_fds: f64,
    /// What view counting cost so far (`signaling_audience_*`, `broker_audience_*`).
    pub audience: AudienceFigures,
}

/// Counters of view counting: batches and spans signaling sent (one `XADD` each batch), their
/// bytes, and the broker's time applying them to PostgreSQL.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AudienceFigures {
    /// `signaling_audience_batches_total`.
    pub batches: f64,
    /// `signaling_audience_spans_total`.
    pub spans: f64,
    /// `signaling_audience_bytes_total`.
    pub bytes: f64,
    /// `broker_audience_spans_applied_total`.
    pub spans_applied: f64,
    /// `broker_audience_apply_micros_total`.
    pub apply_micros: f64,
}

/// Extract the process figures from Prometheus text; missing series read as 0.
pub fn parse(text: &str) -> ProcessFigures {
    let mut f = ProcessFigures::default();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let mut parts = line.split_whitespace();
        let (Some(name), Some(value)) = (parts.next(), parts.next()) else { continue };
        let Ok(v) = value.parse::<f64>() else { continue };
        match name {
            "process_resident_memory_bytes" => f.rss_bytes = v,
            "process_cpu_seconds_total" => f.cpu_seconds = v,
            "process_open_fds" => f.open_fds = v,
            "signaling_audience_batches_total" => f.audience.batches = v,
            "signaling_audience_spans_total" => f.audience.spans = v,
            "signaling_audience_bytes_total" => f.audience.bytes = v,
            "broker_audience_spans_applied_total" => f.audience.spans_applied = v,
            "broker_audience_apply_micros_total" => f.audience.apply_micros = v,
            _ => {}
        }
    }
    f
}

/// Fetch and parse `<target>/metrics`, with `TANDEM_METRICS_TOKEN` as bearer token when set
/// (a process serves `/metrics` only with it).
///
/// # Errors
/// The target does not answer.
pub async fn fetch(http: &reqwest::Client, target: &str) -> anyhow::Result<ProcessFigures> {
    let mut req = http.get(format!("{target}/metrics"));
    if let Some(token) = std::env::var("TANDEM_METRICS_TOKEN").ok().filter(|t| !t.trim().is_empty()) {
        req = req.bearer_auth(token.trim());
    }
    let text = req.send().await?.error_for_status()?.text().await?;
    Ok(parse(&text))
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_process_series() {
        let text = "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes 1048576\n\
                    process_cpu_seconds_total 12.5\nprocess_open_fds 42\nhttp_requests_total{route=\"/x\"} 3\n";
        let f = super::parse(text);
        assert_eq!(f.rss_bytes, 1048576.0);
        assert_eq!(f.cpu_seconds, 12.5);
        assert_eq!(f.open_fds, 42.0);
        assert_eq!(super::parse("garbage\n\n"), super::ProcessFigures::default());
        let a = super::parse("signaling_audience_batches_total 7\nbroker_audience_apply_micros_total 1500\n").audience;
        assert_eq!((a.batches, a.apply_micros), (7.0, 1500.0));
    }
}
