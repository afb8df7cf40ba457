//! `tandem-billing`: the billing service on its own. It ends rooms through the broker's room
//! control (`tandem_broker::room_control`), the only use of the broker crate in billing.

use tandem_shared::config::CoreSettings;
use tandem_shared::server::{bind, build_server, run_until_stopped, Core};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tandem_shared::telemetry::init("info,sqlx=warn");
    let settings = CoreSettings::from_env()?;
    let addr = settings.addr;
    let core = Core::connect(settings).await?;
    // Without the broker in this process, the meter still ends rooms whose funds run out: it
    // uses the broker's room control (configured from the same environment as tandem-broker).
    core.hooks.set_rooms(tandem_broker::room_control(&core)?);
    let billing = tandem_billing::service(&core).await?;
    let listener = bind(addr)?;
    tracing::info!(%addr, "tandem-billing listening");
    let server = build_server(listener, core.clone(), vec![billing])?;
    run_until_stopped(server, core).await
}
