//! [`InternalClient`]: internal HTTP calls to another service, authenticated as a service.
//!
//! Every call has a connect timeout (1 s) and a deadline (5 s), and is retried twice with
//! backoff when the other side cannot be reached or answers 502/503/504. Every contract call is
//! idempotent (reads, or writes keyed by room or by an `Idempotency-Key`), so a retry never
//! applies twice.

use crate::service_auth::{ServiceKey, ServiceName};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::time::Duration;

const ATTEMPTS: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// A refusal or failure of an internal call.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The other service answered with an error status and body `{code, message, ...}`.
    #[error("{service} answered {status}: {code}")]
    Status {
        /// Which service.
        service: &'static str,
        /// HTTP status.
        status: u16,
        /// The error code of the body (`unknown` when there was none).
        code: String,
        /// The whole error body.
        body: serde_json::Value,
    },
    /// The other service could not be reached, timed out, or failed (5xx) after retries.
    #[error("{service} is unavailable: {cause}")]
    Unavailable {
        /// Which service.
        service: &'static str,
        /// What went wrong.
        cause: String,
    },
}

/// Calls one service's internal routes.
#[derive(Clone)]
pub struct InternalClient {
    http: reqwest::Client,
    base: String,
    key: ServiceKey,
    caller: ServiceName,
    target: ServiceName,
}

impl std::fmt::Debug for InternalClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InternalClient").field("base", &self.base).field("target", &self.target).finish_non_exhaustive()
    }
}

impl InternalClient {
    /// A client from `caller` to the service `target` at `base` (e.g. `http://broker:8080`).
    ///
    /// # Errors
    /// The HTTP client cannot be built.
    pub fn new(base: &str, key: ServiceKey, caller: ServiceName, target: ServiceName) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(1))
            .timeout(Duration::from_secs(5))
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true)
            .build()?;
        Ok(Self { http, base: base.trim_end_matches('/').to_string(), key, caller, target })
    }

    /// The service this client calls.
    pub fn target(&self) -> ServiceName {
        self.target
    }

    /// Call `method path` with an optional JSON body; the JSON answer of a 2xx (`null` for 204).
    ///
    /// # Errors
    /// [`CallError::Status`] for a 4xx (or a 5xx other than 502-504), [`CallError::Unavailable`]
    /// when the service stayed unreachable.
    pub async fn call<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        idempotency_key: Option<&str>,
    ) -> Result<R, CallError> {
        let service = self.target.as_str();
        let unavailable = |cause: String| CallError::Unavailable { service, cause };
        let url = format!("{}{path}", self.base);
        let mut backoff = FIRST_BACKOFF;
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(backoff).await;
                backoff *= 3;
            }
            let token = self.key.mint(self.caller).map_err(|e| unavailable(e.to_string()))?;
            let mut req = self.http.request(method.clone(), &url).bearer_auth(token);
            if let Some(k) = idempotency_key {
                req = req.header("idempotency-key", k);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            let res = match req.send().await {
                Ok(r) => r,
                Err(e) => {
                    last = format!("{e}");
                    metrics::counter!("internal_call_retries_total", "service" => service).increment(1);
                    continue;
                }
            };
            let status = res.status().as_u16();
            if matches!(status, 502..=504) {
                last = format!("status {status}");
                metrics::counter!("internal_call_retries_total", "service" => service).increment(1);
                continue;
            }
            let bytes = res.bytes().await.map_err(|e| unavailable(e.to_string()))?;
            if (200..300).contains(&status) {
                let slice: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
                return serde_json::from_slice(slice).map_err(|e| unavailable(format!("unexpected answer: {e}")));
            }
            let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
            let code = body.get("code").and_then(|c| c.as_str()).unwrap_or("unknown").to_string();
            if status >= 500 {
                return Err(unavailable(format!("status {status} ({code})")));
            }
            return Err(CallError::Status { service, status, code, body });
        }
        metrics::counter!("internal_call_failures_total", "service" => service).increment(1);
        Err(unavailable(last))
    }
}
