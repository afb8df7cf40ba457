//! `tandem-broker`: the session broker alone (for scale-out deployments).

use tandem_shared::config::CoreSettings;
use tandem_shared::server::{bind, build_server, run_until_stopped, Core};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tandem_shared::telemetry::init("info,sqlx=warn");
    let settings = CoreSettings::from_env()?;
    let listener = bind(settings.addr)?;
    let core = Core::connect(settings).await?;
    let service = tandem_broker::service(&core).await?;
    let server = build_server(listener, core.clone(), vec![service])?;
    tracing::info!(addr = %core.settings.addr, "tandem-broker serving");
    run_until_stopped(server, core).await
}
