//! `tandem-relay`: the WebRTC relay on its own.

use tandem_shared::config::CoreSettings;
use tandem_shared::server::{bind, build_server, run_until_stopped, Core};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tandem_shared::telemetry::init("info,webrtc=warn,rtc=warn");
    let settings = CoreSettings::from_env()?;
    let addr = settings.addr;
    let core = Core::connect(settings).await?;
    let relay = tandem_relay::service(&core).await?;
    let listener = bind(addr)?;
    tracing::info!(%addr, "tandem-relay listening");
    let server = build_server(listener, core.clone(), vec![relay])?;
    run_until_stopped(server, core).await
}
