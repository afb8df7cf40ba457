//! Daydream client: one StreamDiffusion stream per AI room (`DAYDREAM.md`).
//!
//! - `POST {base}/v1/streams` `{pipeline: "streamdiffusion", params}` → 201 stream;
//!   `PATCH {base}/v1/streams/{id}` `{pipeline, params}` (model_id and the changed fields);
//!   `GET {base}/v1/streams/{id}/status`; `DELETE {base}/v1/streams?id=<id>` (404 counts as deleted).
//! - Every call has a timeout and is retried with exponential backoff on network errors, 5xx
//!   and 429, honouring `Retry-After` (seconds) up to a cap. A 4xx is not retried: its
//!   `{success:false, error, code, status}` body becomes [`DaydreamError::Rejected`].
//! - The API key goes only into the `Authorization` header; it is never logged.

use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::time::Duration;

/// The pipeline every Tandem AI room runs.
pub const PIPELINE: &str = "streamdiffusion";

/// Daydream client settings (`DAYDREAM_API_KEY`, `DAYDREAM_API_BASE`).
#[derive(Clone)]
pub struct DaydreamSettings {
    /// REST base URL, default `https://api.daydream.live`.
    pub api_base: String,
    /// API key (`Authorization: Bearer`); never logged.
    pub api_key: String,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Retries after the first attempt on 5xx, 429 and network errors.
    pub max_retries: u32,
    /// First backoff; doubles each retry.
    pub backoff: Duration,
    /// Longest `Retry-After` honoured; a longer one fails the call instead of waiting.
    pub max_retry_after: Duration,
    /// Livepeer playback base for the AI output (`/webrtc/{id}`, `/hls/{id}/index.m3u8`).
    pub playback_base: String,
}

impl std::fmt::Debug for DaydreamSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DaydreamSettings").field("api_base", &self.api_base).finish_non_exhaustive()
    }
}

impl DaydreamSettings {
    /// Defaults for `api_key` against `api_base`.
    pub fn new(api_base: impl Into<String>, api_key: impl Into<String>) -> Self {
        Self {
            api_base: api_base.into().trim_end_matches('/').to_string(),
            api_key: api_key.into(),
            timeout: Duration::from_secs(10),
            max_retries: 3,
            backoff: Duration::from_millis(250),
            max_retry_after: Duration::from_secs(10),
            playback_base: "https://livepeercdn.studio".into(),
        }
    }
}

/// Why a Daydream call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DaydreamError {
    /// Unreachable, timing out, overloaded (5xx/429) after retries: try again later.
    #[error("Daydream is unavailable: {0}")]
    Unavailable(String),
    /// Daydream refused the request (4xx): its status, code and message.
    #[error("Daydream refused {op}: HTTP {status} {code}: {message}")]
    Rejected {
        /// Which call.
        op: &'static str,
        /// HTTP status.
        status: u16,
        /// Daydream's code, e.g. `STREAMS/NOT_FOUND`.
        code: String,
        /// Daydream's message.
        message: String,
    },
}

/// A stream Daydream created.
#[derive(Clone, PartialEq, Eq)]
pub struct DaydreamStream {
    /// Daydream's stream id.
    pub id: String,
    /// Where the artist publishes (WHIP); the URL is the credential.
    pub whip_url: String,
    /// Livepeer playback id of the AI output.
    pub output_playback_id: String,
}

impl std::fmt::Debug for DaydreamStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DaydreamStream")
            .field("id", &self.id)
            .field("output_playback_id", &self.output_playback_id)
            .finish_non_exhaustive()
    }
}

/// The pipeline's health, from `GET /v1/streams/{id}/status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PipelineHealth {
    /// Frames per second going into the pipeline.
    pub input_fps: Option<f64>,
    /// Frames per second coming out.
    pub output_fps: Option<f64>,
    /// Times the pipeline restarted.
    pub restart_count: Option<i64>,
    /// The last error the pipeline reported.
    pub last_error: Option<String>,
}

#[derive(Deserialize)]
struct StreamBody {
    id: String,
    whip_url: Option<String>,
    output_playback_id: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    code: Option<String>,
}

#[derive(Deserialize)]
struct StatusBody {
    #[serde(default)]
    data: Option<StatusData>,
}

#[derive(Deserialize)]
struct StatusData {
    #[serde(default)]
    inference_status: Option<InferenceStatus>,
    #[serde(default)]
    gateway_status: Option<GatewayStatus>,
}

#[derive(Deserialize)]
struct InferenceStatus {
    input_fps: Option<f64>,
    output_fps: Option<f64>,
    restart_count: Option<i64>,
    last_error: Option<String>,
}

#[derive(Deserialize)]
struct GatewayStatus {
    #[serde(default)]
    error: Option<GatewayError>,
}

#[derive(Deserialize)]
struct GatewayError {
    error_message: Option<String>,
}

enum Attempt {
    Done(reqwest::Response),
    Retry { reason: String, wait: Option<Duration> },
    Fail(DaydreamError),
}

/// The Daydream client.
#[derive(Debug, Clone)]
pub struct DaydreamClient {
    http: reqwest::Client,
    settings: DaydreamSettings,
}

impl DaydreamClient {
    /// A client for `settings`.
    ///
    /// # Errors
    /// The HTTP client cannot be built (TLS roots).
    pub fn new(settings: DaydreamSettings) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("tandem-broker/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { http, settings })
    }

    /// The settings.
    pub fn settings(&self) -> &DaydreamSettings {
        &self.settings
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.settings.api_base, path)
    }

    /// Send a request built by `build`, retrying per the module rules; 404 is returned to the caller.
    async fn send(
        &self,
        op: &'static str,
        max_retries: u32,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, DaydreamError> {
        let mut attempt = 0u32;
        loop {
            let outcome = match build().bearer_auth(&self.settings.api_key).send().await {
                Ok(res) if res.status().is_success() || res.status() == StatusCode::NOT_FOUND => Attempt::Done(res),
                Ok(res) if res.status().is_server_error() || res.status() == StatusCode::TOO_MANY_REQUESTS => {
                    Attempt::Retry { reason: format!("HTTP {}", res.status().as_u16()), wait: retry_after(&res) }
                }
                Ok(res) => {
                    let status = res.status().as_u16();
                    let body = res.json::<ErrorBody>().await.ok();
                    Attempt::Fail(DaydreamError::Rejected {
                        op,
                        status,
                        code: body.as_ref().and_then(|b| b.code.clone()).unwrap_or_default(),
                        message: body.and_then(|b| b.error).unwrap_or_default(),
                    })
                }
                Err(e) if e.is_timeout() => Attempt::Retry { reason: "timeout".into(), wait: None },
                Err(e) if e.is_connect() || e.is_request() => {
                    Attempt::Retry { reason: "connection failed".into(), wait: None }
                }
                Err(e) => Attempt::Fail(DaydreamError::Unavailable(format!("{op}: {}", e.without_url()))),
            };
            match outcome {
                Attempt::Done(res) => return Ok(res),
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry { reason, wait } => {
                    if attempt >= max_retries {
                        return Err(DaydreamError::Unavailable(format!(
                            "{op}: {reason} after {} attempts",
                            attempt + 1
                        )));
                    }
                    let wait = match wait {
                        Some(w) if w > self.settings.max_retry_after => {
                            return Err(DaydreamError::Unavailable(format!(
                                "{op}: {reason}, retry after {}s",
                                w.as_secs()
                            )))
                        }
                        Some(w) => w,
                        None => self.backoff(attempt),
                    };
                    tracing::warn!(op, attempt, %reason, wait_ms = wait.as_millis() as u64, "daydream call failed; retrying");
                    metrics::counter!("broker_daydream_retries_total", "op" => op).increment(1);
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
            }
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.settings.backoff.saturating_mul(1 << attempt.min(10));
        base.mul_f64(1.0 + rand::random::<f64>() * 0.5).min(Duration::from_secs(30))
    }

    /// Create a stream running `params` (which must hold `model_id` and `prompt`).
    ///
    /// # Errors
    /// [`DaydreamError`]; a created stream without a WHIP URL or playback id is deleted again.
    pub async fn create_stream(
        &self,
        name: &str,
        params: &Map<String, Value>,
    ) -> Result<DaydreamStream, DaydreamError> {
        let body = json!({"pipeline": PIPELINE, "name": name, "params": params});
        let url = self.url("/v1/streams");
        let res = self.send("create_stream", self.settings.max_retries, || self.http.post(&url).json(&body)).await?;
        if res.status() == StatusCode::NOT_FOUND {
            return Err(DaydreamError::Rejected {
                op: "create_stream",
                status: 404,
                code: String::new(),
                message: "not found".into(),
            });
        }
        let s: StreamBody = res
            .json()
            .await
            .map_err(|_| DaydreamError::Unavailable("create_stream: unexpected response body".into()))?;
        match (s.whip_url, s.output_playback_id) {
            (Some(whip_url), Some(output_playback_id)) => {
                tracing::info!(stream_id = %s.id, "daydream stream created");
                Ok(DaydreamStream { id: s.id, whip_url, output_playback_id })
            }
            _ => {
                let _ = self.delete_stream(&s.id).await;
                Err(DaydreamError::Unavailable("create_stream: no whip_url or output_playback_id".into()))
            }
        }
    }

    /// Update a stream live: `params` holds `model_id` and the fields that change.
    ///
    /// # Errors
    /// [`DaydreamError`] (a stream that is gone is `Rejected` with status 404).
    pub async fn update_stream(&self, id: &str, params: &Map<String, Value>) -> Result<(), DaydreamError> {
        let body = json!({"pipeline": PIPELINE, "params": params});
        let url = self.url(&format!("/v1/streams/{id}"));
        let res = self.send("update_stream", self.settings.max_retries, || self.http.patch(&url).json(&body)).await?;
        if res.status() == StatusCode::NOT_FOUND {
            return Err(DaydreamError::Rejected {
                op: "update_stream",
                status: 404,
                code: "STREAMS/NOT_FOUND".into(),
                message: "the stream is gone".into(),
            });
        }
        Ok(())
    }

    /// The pipeline's health (one attempt: it is read while a page waits).
    ///
    /// # Errors
    /// [`DaydreamError`].
    pub async fn status(&self, id: &str) -> Result<Option<PipelineHealth>, DaydreamError> {
        let url = self.url(&format!("/v1/streams/{id}/status"));
        let res = self.send("stream_status", 0, || self.http.get(&url).timeout(Duration::from_secs(2))).await?;
        if res.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let body: StatusBody =
            res.json().await.map_err(|_| DaydreamError::Unavailable("stream_status: unexpected body".into()))?;
        let data = body.data.unwrap_or(StatusData { inference_status: None, gateway_status: None });
        let gateway_error = data.gateway_status.and_then(|g| g.error).and_then(|e| e.error_message);
        Ok(Some(match data.inference_status {
            Some(i) => PipelineHealth {
                input_fps: i.input_fps,
                output_fps: i.output_fps,
                restart_count: i.restart_count,
                last_error: i.last_error.filter(|e| !e.is_empty()).or(gateway_error),
            },
            None => PipelineHealth { last_error: gateway_error, ..PipelineHealth::default() },
        }))
    }

    /// Delete a stream (one that no longer exists counts as deleted).
    ///
    /// # Errors
    /// [`DaydreamError`].
    pub async fn delete_stream(&self, id: &str) -> Result<(), DaydreamError> {
        let url = self.url("/v1/streams");
        self.send("delete_stream", self.settings.max_retries, || self.http.delete(&url).query(&[("id", id)])).await?;
        Ok(())
    }
}

/// `Retry-After` in seconds.
fn retry_after(res: &reqwest::Response) -> Option<Duration> {
    let v = res.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}
