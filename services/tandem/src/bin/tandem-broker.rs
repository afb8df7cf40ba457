//! `tandem-broker`: rooms, slots, private requests and presence on their own. Calls auth (user
//! directory) and billing (payment gate).

use std::sync::Arc;
use tandem_shared::contracts::Contract;
use tandem_shared::media_token::MediaKey;
use tandem_shared::service_auth::ServiceName;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tandem::standalone::run(
        ServiceName::Broker,
        "info,sqlx=warn",
        &[Contract::Users, Contract::Payments],
        |core| async move {
            let settings = tandem_broker::BrokerSettings::from_env()?;
            let key = MediaKey::load_or_generate(&core.settings)?;
            // The API documents are served by tandem-web, merged with the other services'.
            let broker: Arc<dyn tandem_shared::server::Service> =
                Arc::new(tandem_broker::build(&core, settings, key, false)?);
            Ok(vec![broker])
        },
    )
    .await
}
