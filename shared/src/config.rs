//! Settings every service reads from the environment.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `TANDEM_ENV` | `development` | `production` refuses to generate dev keys |
//! | `TANDEM_ADDR` | `127.0.0.1:8080` | address the HTTP server binds |
//! | `TANDEM_PUBLIC_URL` | `http://<TANDEM_ADDR>` | URL clients reach this deployment at |
//! | `DATABASE_URL` | `postgres://postgres:postgres@127.0.0.1:5432/tandem` | created if missing |
//! | `TANDEM_DB_MAX_CONNECTIONS` | `20` | pool size per process |
//! | `REDIS_URL` | `redis://127.0.0.1:6379` | shared live state |
//! | `TANDEM_REDIS_PREFIX` | `tandem:` | prefix of every Redis key this deployment writes |
//! | `TANDEM_DATA_DIR` | `./data` | generated dev keys and other local state |
//! | `TANDEM_JWT_PRIVATE_KEY` | `<data dir>/jwt-ed25519.pem` | Ed25519 PKCS#8 PEM signing key (auth) |
//! | `TANDEM_JWT_PUBLIC_KEY` | derived from the private key | Ed25519 SPKI PEM verifying key |
//! | `TANDEM_ACCESS_TOKEN_TTL_SECS` | `900` | access-token lifetime (30–86400; at least 300 in production) |
//! | `TANDEM_JWT_ISSUER` / `TANDEM_JWT_AUDIENCE` | `tandem` / `tandem` | pinned token claims |
//! | `TANDEM_WORKERS` | number of CPUs | actix-web worker threads |
//! | `TANDEM_TRUSTED_PROXIES` | empty (trust nobody) | comma-separated IPs/CIDRs whose `X-Forwarded-For` is believed |
//! | `TANDEM_METRICS_TOKEN` | none | bearer token (≥ 16 characters) that `GET /metrics` on the main listener requires; unset: the main listener does not serve `/metrics` (404) |
//! | `TANDEM_METRICS_ADDR` | none | a separate listener serving only `GET /metrics`, without a token (bind it where only the scraper reaches it) |
//! | `TANDEM_RATE_<CLASS>`, `TANDEM_RATE_<CLASS>_ADDR` | see [`crate::rate_limit::classes`] | `<count>/<seconds>` or `off`, per user / per client address |
//! | `TANDEM_RATE_LIMITS` | `on` | `off` disables every rate limit (load tests only) |

use anyhow::Context;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Whether the deployment may take development shortcuts (generated keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    /// Local use: missing keys are generated in the data directory.
    Development,
    /// Real deployments: keys must be configured.
    Production,
}

/// Settings shared by every service.
#[derive(Debug, Clone)]
pub struct CoreSettings {
    /// Development or production.
    pub environment: Environment,
    /// Bind address of the HTTP server (port 0 picks a free port).
    pub addr: SocketAddr,
    /// Base URL clients use to reach this deployment (no trailing slash).
    pub public_url: String,
    /// PostgreSQL connection URL.
    pub database_url: String,
    /// Pool size per process.
    pub db_max_connections: u32,
    /// Redis connection URL.
    pub redis_url: String,
    /// Prefix of every Redis key the deployment writes.
    pub redis_prefix: String,
    /// Directory for generated dev keys and local state.
    pub data_dir: PathBuf,
    /// Path of the Ed25519 private key (PKCS#8 PEM), if configured.
    pub jwt_private_key: Option<PathBuf>,
    /// Path of the Ed25519 public key (SPKI PEM), if configured.
    pub jwt_public_key: Option<PathBuf>,
    /// `iss` claim of access tokens.
    pub jwt_issuer: String,
    /// `aud` claim of access tokens.
    pub jwt_audience: String,
    /// actix-web worker threads; `None` means one per CPU.
    pub workers: Option<usize>,
    /// Proxies whose `X-Forwarded-For` names the client (see [`crate::client_addr`]).
    pub trusted_proxies: crate::client_addr::TrustedProxies,
    /// MaxMind-format country database for geo-blocking (`TANDEM_GEOIP_DB`); none: places unknown.
    pub geoip_db: Option<PathBuf>,
    /// Lifetime of access tokens, seconds (signaling sockets close when theirs expires).
    pub access_token_ttl_secs: i64,
    /// Bearer token of `/metrics` on the main listener; `None`: not served there.
    pub metrics_token: Option<crate::metrics::MetricsToken>,
    /// The separate, unauthenticated metrics listener, if any.
    pub metrics_addr: Option<SocketAddr>,
    /// Rate limits per class of action (see [`crate::rate_limit`]).
    pub rate_limits: crate::rate_limit::RateLimits,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl CoreSettings {
    /// Read settings from the environment, applying the documented defaults.
    ///
    /// # Errors
    /// A variable that is set but does not parse.
    pub fn from_env() -> anyhow::Result<Self> {
        let environment = match var("TANDEM_ENV").as_deref() {
            None | Some("development") | Some("dev") => Environment::Development,
            Some("production") | Some("prod") => Environment::Production,
            Some(other) => anyhow::bail!("TANDEM_ENV must be `development` or `production`, not `{other}`"),
        };
        let addr: SocketAddr = var("TANDEM_ADDR")
            .unwrap_or_else(|| "127.0.0.1:8080".into())
            .parse()
            .context("TANDEM_ADDR must be host:port, e.g. 127.0.0.1:8080")?;
        let public_url =
            var("TANDEM_PUBLIC_URL").unwrap_or_else(|| format!("http://{addr}")).trim_end_matches('/').to_string();
        let db_max_connections = var("TANDEM_DB_MAX_CONNECTIONS")
            .map(|v| v.parse().context("TANDEM_DB_MAX_CONNECTIONS must be a number"))
            .transpose()?
            .unwrap_or(20);
        let workers =
            var("TANDEM_WORKERS").map(|v| v.parse().context("TANDEM_WORKERS must be a number")).transpose()?;
        let data_dir = PathBuf::from(var("TANDEM_DATA_DIR").unwrap_or_else(|| "./data".into()));
        let trusted_proxies =
            crate::client_addr::TrustedProxies::parse(&var("TANDEM_TRUSTED_PROXIES").unwrap_or_default())
                .map_err(|e| anyhow::anyhow!("TANDEM_TRUSTED_PROXIES: {e}"))?;
        let access_token_ttl_secs = var("TANDEM_ACCESS_TOKEN_TTL_SECS")
            .map(|v| v.parse::<i64>().context("TANDEM_ACCESS_TOKEN_TTL_SECS must be a number of seconds"))
            .transpose()?
            .unwrap_or(crate::jwt::ACCESS_TOKEN_TTL_SECS);
        let min_ttl = if environment == Environment::Production { 300 } else { 30 };
        anyhow::ensure!(
            (min_ttl..=86_400).contains(&access_token_ttl_secs),
            "TANDEM_ACCESS_TOKEN_TTL_SECS must be between {min_ttl} and 86400"
        );
        let metrics_token = var("TANDEM_METRICS_TOKEN")
            .map(|t| crate::metrics::MetricsToken::new(t.trim()))
            .transpose()
            .context("TANDEM_METRICS_TOKEN")?;
        let metrics_addr = var("TANDEM_METRICS_ADDR")
            .map(|v| v.parse::<SocketAddr>().context("TANDEM_METRICS_ADDR must be host:port, e.g. 0.0.0.0:9090"))
            .transpose()?;
        anyhow::ensure!(metrics_addr != Some(addr), "TANDEM_METRICS_ADDR must differ from TANDEM_ADDR");
        let rate_limits = crate::rate_limit::RateLimits::from_vars(var)?;
        Ok(Self {
            environment,
            addr,
            public_url,
            database_url: var("DATABASE_URL")
                .unwrap_or_else(|| "postgres://postgres:postgres@127.0.0.1:5432/tandem".into()),
            db_max_connections,
            redis_url: var("REDIS_URL").unwrap_or_else(|| "redis://127.0.0.1:6379".into()),
            redis_prefix: var("TANDEM_REDIS_PREFIX").unwrap_or_else(|| "tandem:".into()),
            data_dir,
            jwt_private_key: var("TANDEM_JWT_PRIVATE_KEY").map(PathBuf::from),
            jwt_public_key: var("TANDEM_JWT_PUBLIC_KEY").map(PathBuf::from),
            jwt_issuer: var("TANDEM_JWT_ISSUER").unwrap_or_else(|| "tandem".into()),
            jwt_audience: var("TANDEM_JWT_AUDIENCE").unwrap_or_else(|| "tandem".into()),
            workers,
            trusted_proxies,
            geoip_db: var("TANDEM_GEOIP_DB").map(PathBuf::from),
            access_token_ttl_secs,
            metrics_token,
            metrics_addr,
            rate_limits,
        })
    }
}
