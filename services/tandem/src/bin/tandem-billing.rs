//! `tandem-billing`: wallets, ledger, metering, tips and payouts on their own. Calls auth (user
//! directory) and the broker (room control: a room's state, ending a room whose funds ran out).

use tandem_shared::contracts::Contract;
use tandem_shared::service_auth::ServiceName;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tandem::standalone::run(
        ServiceName::Billing,
        "info,sqlx=warn",
        &[Contract::Users, Contract::Rooms],
        |core| async move { Ok(vec![tandem_billing::service(&core).await?]) },
    )
    .await
}
