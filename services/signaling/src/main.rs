//! `tandem-signaling`: the signaling service on its own.

use tandem_shared::config::CoreSettings;
use tandem_shared::server::{bind, build_server, run_until_stopped, Core};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tandem_shared::telemetry::init("info");
    let settings = CoreSettings::from_env()?;
    let addr = settings.addr;
    let core = Core::connect(settings).await?;
    let signaling = tandem_signaling::service(&core).await?;
    let listener = bind(addr)?;
    tracing::info!(%addr, "tandem-signaling listening");
    let server = build_server(listener, core.clone(), vec![signaling])?;
    run_until_stopped(server, core).await
}
