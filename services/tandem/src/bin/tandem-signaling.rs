//! `tandem-signaling`: the WebSocket on its own (run several). Calls auth (user directory), the
//! broker (room control) and billing (tips).

use tandem_shared::contracts::Contract;
use tandem_shared::service_auth::ServiceName;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tandem::standalone::run(
        ServiceName::Signaling,
        "info",
        &[Contract::Users, Contract::Rooms, Contract::Payments],
        |core| async move { Ok(vec![tandem_signaling::service(&core).await?]) },
    )
    .await
}
