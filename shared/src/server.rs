//! The [`Core`] context every service is built from, the [`Service`] trait each service
//! implements, and [`build_server`], which mounts services into one actix-web server.
//!
//! The all-in-one `tandem` binary mounts every service; a per-service binary mounts one.

use crate::config::CoreSettings;
use crate::jwt::{KeyPair, Tokens};
use crate::redis::RedisHandle;
use actix_web::dev::Server;
use actix_web::{middleware, web, App, HttpResponse, HttpServer};
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;
use std::net::TcpListener;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Largest JSON body any endpoint accepts.
pub const JSON_LIMIT: usize = 64 * 1024;

/// What every service needs: settings, database, Redis, token keys, metrics and shutdown.
///
/// Cloning is cheap (everything inside is shared).
#[derive(Clone)]
pub struct Core {
    /// Settings read at start.
    pub settings: Arc<CoreSettings>,
    /// PostgreSQL pool (migrated).
    pub db: PgPool,
    /// Redis connection and key prefix.
    pub redis: RedisHandle,
    /// Access-token signing (auth only) and verification (everyone).
    pub tokens: Tokens,
    /// Prometheus recorder handle.
    pub metrics: PrometheusHandle,
    /// Set when the node is draining: `/readyz` answers 503 and no new sockets are taken.
    pub draining: Arc<AtomicBool>,
    /// Cancelled when the process shuts down; long-lived tasks watch it.
    pub shutdown: CancellationToken,
    /// Hooks between services, wired by the binary.
    pub hooks: crate::hooks::Hooks,
    /// Signs and verifies service tokens of internal calls.
    pub service_key: crate::service_auth::ServiceKey,
    /// The country database for geo-blocking (empty without `TANDEM_GEOIP_DB`).
    pub geo: crate::geo::Geo,
}

impl Core {
    /// Connect everything from settings: migrate Postgres, connect Redis, load or generate keys.
    ///
    /// # Errors
    /// Postgres or Redis unreachable, or unusable keys.
    pub async fn connect(settings: CoreSettings) -> anyhow::Result<Self> {
        let db = crate::db::connect_and_migrate(&settings.database_url, settings.db_max_connections).await?;
        let redis = RedisHandle::connect(&settings.redis_url, &settings.redis_prefix).await?;
        let key = KeyPair::load_or_generate(&settings)?;
        let service_key = crate::service_auth::ServiceKey::load_or_generate(&settings)?;
        let geo = match &settings.geoip_db {
            Some(path) => crate::geo::Geo::open(path)?,
            None => {
                tracing::info!(
                    "TANDEM_GEOIP_DB is not set: client countries are unknown and geo-blocking blocks nobody"
                );
                crate::geo::Geo::none()
            }
        };
        let mut core = Self::from_parts(settings, db, redis, key);
        core.service_key = service_key;
        core.geo = geo;
        Ok(core)
    }

    /// Assemble a core from already-connected parts (tests use this), with a random service key.
    pub fn from_parts(settings: CoreSettings, db: PgPool, redis: RedisHandle, key: KeyPair) -> Self {
        let tokens = Tokens::new(key, &settings.jwt_issuer, &settings.jwt_audience)
            .with_access_ttl(settings.access_token_ttl_secs);
        Self {
            settings: Arc::new(settings),
            db,
            redis,
            tokens,
            metrics: crate::metrics::install(),
            draining: Arc::new(AtomicBool::new(false)),
            shutdown: CancellationToken::new(),
            hooks: crate::hooks::Hooks::default(),
            service_key: crate::service_auth::ServiceKey::generate(),
            geo: crate::geo::Geo::none(),
        }
    }
}

/// A service mounted into the HTTP server.
pub trait Service: Send + Sync + 'static {
    /// Short name, for logs.
    fn name(&self) -> &'static str;
    /// Register the service's routes and app data.
    fn configure(&self, cfg: &mut web::ServiceConfig);
    /// The service's write routes and the rate-limit class of each (see [`crate::rate_limit`]).
    fn rate_limited_routes(&self) -> &'static [crate::rate_limit::http::RouteClass] {
        &[]
    }
}

async fn not_found() -> HttpResponse {
    crate::error::error_response(actix_web::http::StatusCode::NOT_FOUND, "not_found", "no such route")
}

/// Build the HTTP server for `services` on an already-bound listener.
///
/// Signals are not handled here: the binary decides how to drain (see `tandem serve`).
///
/// # Errors
/// The listener cannot be used.
pub fn build_server(listener: TcpListener, core: Core, services: Vec<Arc<dyn Service>>) -> std::io::Result<Server> {
    let workers = core.settings.workers;
    let core_data = web::Data::new(core.clone());
    let tokens = web::Data::new(core.tokens.clone());
    let redis = web::Data::new(core.redis.clone());
    let metrics = web::Data::new(core.metrics.clone());
    let routes: Vec<_> = services.iter().flat_map(|s| s.rate_limited_routes().iter().copied()).collect();
    let limiter = crate::rate_limit::RateLimiter::new(core.redis.clone(), core.settings.rate_limits.clone());
    let limits = web::Data::new(crate::rate_limit::http::HttpLimits::new(
        limiter,
        &routes,
        core.tokens.clone(),
        core.settings.trusted_proxies.clone(),
    ));
    let server = HttpServer::new(move || {
        let services = services.clone();
        App::new()
            // The outer middleware is the last wrapped: metrics see the limiter's refusals.
            .wrap(middleware::from_fn(crate::rate_limit::http::limit))
            .wrap(middleware::from_fn(crate::metrics::record))
            .app_data(limits.clone())
            .app_data(core_data.clone())
            .app_data(tokens.clone())
            .app_data(redis.clone())
            .app_data(metrics.clone())
            .configure(|c| crate::error::extractor_configs(c, JSON_LIMIT))
            .configure(crate::health::configure)
            .route("/metrics", web::get().to(crate::metrics::render_protected))
            .configure(move |cfg| {
                for s in &services {
                    s.configure(cfg);
                }
            })
            .default_service(web::to(not_found))
    })
    // Small frames (signaling events, acks) must leave at once: without TCP_NODELAY, Nagle's
    // algorithm holds a frame until the previous one is acknowledged, and with the peer's
    // delayed ACK that added ~40 ms to relayed events.
    .on_connect(|conn, _ext| {
        if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
            let _ = tcp.set_nodelay(true);
        }
    })
    .disable_signals()
    .shutdown_timeout(10)
    .backlog(4096)
    .max_connection_rate(1024);
    let server = match workers {
        Some(w) => server.workers(w),
        None => server,
    };
    Ok(server.listen(listener)?.run())
}

/// Serve until SIGINT/SIGTERM, then drain: mark the node draining (`/readyz` 503), cancel
/// [`Core::shutdown`] so long-lived sessions say goodbye, wait up to `TANDEM_DRAIN_SECS`
/// (default 10) for them, and stop the server. A second signal stops at once.
///
/// # Errors
/// The server fails.
pub async fn run_until_stopped(server: Server, core: Core) -> anyhow::Result<()> {
    use std::sync::atomic::Ordering;
    let handle = server.handle();
    let drain_secs: u64 = std::env::var("TANDEM_DRAIN_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let watcher = tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!(drain_secs, "shutdown requested: draining");
        core.draining.store(true, Ordering::SeqCst);
        core.shutdown.cancel();
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(drain_secs)) => {}
            _ = wait_for_signal() => tracing::warn!("second signal: stopping now"),
        }
        handle.stop(true).await;
    });
    let result = server.await;
    watcher.abort();
    result.map_err(Into::into)
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Start the separate metrics listener when `TANDEM_METRICS_ADDR` is set; returns its address.
///
/// # Errors
/// The address is taken.
pub fn start_metrics_listener(core: &Core) -> anyhow::Result<Option<std::net::SocketAddr>> {
    let Some(addr) = core.settings.metrics_addr else { return Ok(None) };
    let listener = bind(addr)?;
    let bound = listener.local_addr()?;
    crate::metrics::serve_separately(listener, core.metrics.clone(), core.shutdown.clone())?;
    tracing::info!(%bound, "metrics listener (GET /metrics, no token)");
    Ok(Some(bound))
}

/// Bind `settings.addr`, returning the listener (port 0 picks a free port).
///
/// # Errors
/// The address is taken.
pub fn bind(addr: std::net::SocketAddr) -> anyhow::Result<TcpListener> {
    use anyhow::Context;
    TcpListener::bind(addr)
        .with_context(|| format!("Failed to bind {addr} (is another Tandem running? set TANDEM_ADDR)"))
}
