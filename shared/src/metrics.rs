//! Prometheus metrics: request counts and latency histograms by route and status, plus
//! process memory, CPU and open files, rendered at `GET /metrics`.
//!
//! `/metrics` tells an outsider a lot (routes, traffic, error rates, memory), so it is never
//! public: on the main listener it needs `Authorization: Bearer <TANDEM_METRICS_TOKEN>` and is
//! not served at all (404) without that variable; `TANDEM_METRICS_ADDR` adds a separate listener
//! serving only `/metrics`, without a token, for a scraper on a private network (Kubernetes
//! scrapes that port; the Ingress and nginx never route `/metrics`).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, HttpResponse};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Instant;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Install the process-wide Prometheus recorder (once) and return its handle.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &buckets)
                .and_then(|b| b.install_recorder())
                .unwrap_or_else(|e| {
                    // Another recorder is installed (only possible in tests); keep a detached one.
                    tracing::warn!(error.message = %e, "metrics recorder already installed");
                    PrometheusBuilder::new().build_recorder().handle()
                })
        })
        .clone()
}

/// Middleware recording `http_requests_total` and `http_request_duration_seconds`.
///
/// Routes are labelled by their pattern (`/v1/rooms/{id}`), never the raw path, so label
/// cardinality stays bounded.
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let start = Instant::now();
    let method = req.method().to_string();
    let res = next.call(req).await?;
    let route = res.request().match_pattern().unwrap_or_else(|| "unmatched".into());
    let status = res.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(start.elapsed().as_secs_f64());
    Ok(res)
}

/// Process resource figures read from `/proc/self` (Linux).
#[derive(Debug, Default, Clone, Copy)]
pub struct ProcessStats {
    /// Resident set size in bytes.
    pub rss_bytes: u64,
    /// User + system CPU time in seconds.
    pub cpu_seconds: f64,
    /// Open file descriptors.
    pub open_fds: u64,
    /// OS threads.
    pub threads: u64,
}

impl ProcessStats {
    /// Read the current figures; zeros where `/proc` is unavailable.
    pub fn read() -> Self {
        let mut s = ProcessStats::default();
        if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
            for line in status.lines() {
                let mut parts = line.split_whitespace();
                match (parts.next(), parts.next()) {
                    (Some("VmRSS:"), Some(kb)) => s.rss_bytes = kb.parse::<u64>().unwrap_or(0) * 1024,
                    (Some("Threads:"), Some(n)) => s.threads = n.parse().unwrap_or(0),
                    _ => {}
                }
            }
        }
        if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
            // Fields after the parenthesised command name; utime and stime are 14th and 15th.
            if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) {
                let fields: Vec<&str> = rest.split_whitespace().collect();
                let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
                s.cpu_seconds = (ticks(11) + ticks(12)) / 100.0;
            }
        }
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            s.open_fds = dir.count() as u64;
        }
        s
    }
}

/// The bearer token `/metrics` on the main listener requires. `Debug` hides it.
#[derive(Clone)]
pub struct MetricsToken(std::sync::Arc<str>);

impl std::fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsToken(..)")
    }
}

impl MetricsToken {
    /// A token of at least 16 characters.
    ///
    /// # Errors
    /// A shorter token.
    pub fn new(token: &str) -> anyhow::Result<Self> {
        anyhow::ensure!(token.len() >= 16, "the metrics token must be at least 16 characters");
        Ok(Self(token.into()))
    }

    /// Whether `presented` is the token (constant time in its length).
    fn matches(&self, presented: &str) -> bool {
        use sha2::Digest;
        // Compare digests so the time does not depend on where the strings differ.
        let (a, b) = (sha2::Sha256::digest(self.0.as_bytes()), sha2::Sha256::digest(presented.as_bytes()));
        a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// `GET /metrics` on the main listener: 404 without a configured token, 401 without the right
/// bearer token, else [`render`].
pub async fn render_protected(
    req: HttpRequest,
    core: web::Data<crate::server::Core>,
    handle: web::Data<PrometheusHandle>,
) -> HttpResponse {
    use actix_web::http::StatusCode;
    let Some(token) = &core.settings.metrics_token else {
        return crate::error::error_response(StatusCode::NOT_FOUND, "not_found", "no such route");
    };
    match crate::auth::bearer_token(&req) {
        Some(presented) if token.matches(presented) => render(handle).await,
        _ => {
            let mut res = crate::error::error_response(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "GET /metrics needs Authorization: Bearer <TANDEM_METRICS_TOKEN>",
            );
            res.headers_mut().insert(
                actix_web::http::header::WWW_AUTHENTICATE,
                actix_web::http::header::HeaderValue::from_static("Bearer"),
            );
            res
        }
    }
}

/// Serve `GET /metrics` (no token) on `listener` until `shutdown`: the separate metrics
/// listener of `TANDEM_METRICS_ADDR`.
///
/// # Errors
/// The listener cannot be used.
pub fn serve_separately(
    listener: std::net::TcpListener,
    handle: PrometheusHandle,
    shutdown: tokio_util::sync::CancellationToken,
) -> std::io::Result<()> {
    let data = web::Data::new(handle);
    let server = actix_web::HttpServer::new(move || {
        actix_web::App::new().app_data(data.clone()).route("/metrics", web::get().to(render))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    let stop = server.handle();
    tokio::spawn(async move {
        shutdown.cancelled().await;
        stop.stop(true).await;
    });
    tokio::spawn(server);
    Ok(())
}

/// `GET /metrics`: Prometheus text format.
pub async fn render(handle: web::Data<PrometheusHandle>) -> HttpResponse {
    let p = ProcessStats::read();
    metrics::gauge!("process_resident_memory_bytes").set(p.rss_bytes as f64);
    metrics::gauge!("process_cpu_seconds_total").set(p.cpu_seconds);
    metrics::gauge!("process_open_fds").set(p.open_fds as f64);
    metrics::gauge!("process_threads").set(p.threads as f64);
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(handle.render())
}
