//! Starting one service as its own process.
//!
//! A per-service binary reads the same core settings as `tandem serve`, installs the remote
//! implementation of every contract it needs from another service
//! ([`tandem_shared::contracts::install_remote`]: `TANDEM_AUTH_URL`, `TANDEM_BROKER_URL`,
//! `TANDEM_BILLING_URL`, authenticated with `TANDEM_SERVICE_SECRET`), builds its own service
//! (which installs its in-process contract), and serves until SIGTERM with the same drain as
//! `tandem serve`. A missing URL stops it before it binds, with a message naming the variable.

use std::future::Future;
use std::sync::Arc;
use tandem_shared::config::CoreSettings;
use tandem_shared::contracts::{install_remote, Contract};
use tandem_shared::server::{bind, build_server, run_until_stopped, start_metrics_listener, Core, Service};
use tandem_shared::service_auth::ServiceName;

/// Run `build`'s services as the process of `me`, with remote contracts for `needs`.
///
/// # Errors
/// Bad settings, a missing contract URL, unreachable PostgreSQL or Redis, or a server failure.
pub async fn run<F, Fut>(me: ServiceName, log_filter: &str, needs: &[Contract], build: F) -> anyhow::Result<()>
where
    F: FnOnce(Core) -> Fut,
    Fut: Future<Output = anyhow::Result<Vec<Arc<dyn Service>>>>,
{
    tandem_shared::telemetry::init(log_filter);
    let settings = CoreSettings::from_env()?;
    // Check the contract URLs before connecting anything, so a misconfigured process says so at once.
    for c in needs {
        if std::env::var(c.url_var()).map(|v| v.trim().is_empty()).unwrap_or(true) {
            anyhow::bail!(
                "tandem-{} cannot start: {} is not set (the internal URL of the service it calls); \
                 set it, or run every service in one process with `tandem serve`",
                me.as_str(),
                c.url_var()
            );
        }
    }
    let listener = bind(settings.addr)?;
    let core = Core::connect(settings).await?;
    install_remote(&core, me, needs)?;
    let services = build(core.clone()).await?;
    let addr = listener.local_addr()?;
    start_metrics_listener(&core)?;
    let server = build_server(listener, core.clone(), services)?;
    tracing::info!(%addr, service = me.as_str(), "tandem-{} serving", me.as_str());
    run_until_stopped(server, core).await
}
