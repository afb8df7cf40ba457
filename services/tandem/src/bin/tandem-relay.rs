//! `tandem-relay`: the WebRTC relay on its own. Learns released slots over Redis and reports
//! slot state to `TANDEM_BROKER_URL` when set (signed with the media key).

use tandem_shared::service_auth::ServiceName;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tandem::standalone::run(ServiceName::Relay, "info,webrtc=warn,rtc=warn", &[], |core| async move {
        Ok(vec![tandem_relay::service(&core).await?])
    })
    .await
}
