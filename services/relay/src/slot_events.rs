//! Telling the broker when a slot starts or stops publishing, so room state is right
//! whichever media provider serves it (the relay's counterpart of a Livepeer webhook).
//!
//! The contract is [`tandem_shared::media_token`]'s slot-state report: `POST
//! {broker}/internal/v1/slots/{slot_id}/state` with `{"publishing": bool, "ts": unix_secs}`,
//! signed in `X-Tandem-Signature`. It is behind a trait so tests (and a future in-process
//! hook) can replace the HTTP call.

use std::time::Duration;
use tandem_shared::ids::SlotId;
use tandem_shared::media_token::{MediaKey, SLOT_STATE_SIGNATURE_HEADER};

/// Receives publish start/stop of slots.
#[async_trait::async_trait]
pub trait SlotEvents: Send + Sync + 'static {
    /// `slot` started (`true`) or stopped (`false`) publishing. Failures are logged, not returned:
    /// media keeps flowing whether or not the broker heard.
    async fn publishing(&self, slot: SlotId, publishing: bool);
}

/// Reports to the broker over HTTP.
pub struct BrokerReporter {
    client: reqwest::Client,
    base_url: String,
    key: MediaKey,
}

impl BrokerReporter {
    /// A reporter posting to `base_url` (no trailing slash), signing with `key`.
    ///
    /// # Errors
    /// The HTTP client cannot be built.
    pub fn new(base_url: &str, key: MediaKey) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
        Ok(Self { client, base_url: base_url.trim_end_matches('/').to_string(), key })
    }

    async fn post(&self, slot: SlotId, publishing: bool) -> anyhow::Result<reqwest::StatusCode> {
        let ts = chrono_now();
        let sig = self.key.slot_state_signature(slot, publishing, ts);
        let res = self
            .client
            .post(format!("{}/internal/v1/slots/{slot}/state", self.base_url))
            .header(SLOT_STATE_SIGNATURE_HEADER, sig)
            .json(&serde_json::json!({ "publishing": publishing, "ts": ts }))
            .send()
            .await?;
        Ok(res.status())
    }
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

#[async_trait::async_trait]
impl SlotEvents for BrokerReporter {
    async fn publishing(&self, slot: SlotId, publishing: bool) {
        for attempt in 0..3u32 {
            match self.post(slot, publishing).await {
                Ok(status) if status.is_success() => return,
                // The broker does not know the slot (or refuses it): retrying will not help.
                Ok(status) if status.is_client_error() => {
                    tracing::warn!(%slot, publishing, %status, "the broker refused a slot-state report");
                    return;
                }
                Ok(status) => tracing::warn!(%slot, publishing, %status, attempt, "slot-state report failed"),
                Err(e) => tracing::warn!(%slot, publishing, error.message = %e, attempt, "slot-state report failed"),
            }
            tokio::time::sleep(Duration::from_millis(250 * 2u64.pow(attempt))).await;
        }
    }
}
