//! `tandem-relay`: the WebRTC relay on its own. Learns released slots over Redis and from the
//! broker (room control at `TANDEM_BROKER_URL`, which also takes its signed slot-state reports).

use tandem_shared::contracts::Contract;
use tandem_shared::service_auth::ServiceName;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tandem::standalone::run(ServiceName::Relay, "info,webrtc=warn,rtc=warn", &[Contract::Rooms], |core| async move {
        Ok(vec![tandem_relay::service(&core).await?])
    })
    .await
}
