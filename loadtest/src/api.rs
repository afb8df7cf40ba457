//! Tandem's HTTP API as a client sees it.

use anyhow::Context;
use serde_json::{json, Value};
use std::time::Duration;

/// An HTTP error with the API's stable error code (or `http_<status>` when the body has none).
#[derive(Debug, thiserror::Error)]
#[error("{method} {path}: {status} {code}")]
pub struct ApiError {
    /// Method.
    pub method: &'static str,
    /// Path.
    pub path: String,
    /// Status.
    pub status: u16,
    /// The body's `code`.
    pub code: String,
}

/// Fail with a clear message when the target does not answer `/readyz`.
///
/// # Errors
/// The target is down or not ready.
pub async fn check_ready(http: &reqwest::Client, target: &str) -> anyhow::Result<()> {
    let res = http
        .get(format!("{target}/readyz"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .with_context(|| format!("target {target} is not reachable (is `tandem serve` running there?)"))?;
    if !res.status().is_success() {
        anyhow::bail!("target {target} is not ready: /readyz answered {}", res.status());
    }
    Ok(())
}

/// Send a JSON request and decode the JSON reply; non-2xx becomes an [`ApiError`]. A 503
/// `overloaded` (the server did nothing) is retried after its `Retry-After`, as clients do.
///
/// # Errors
/// Transport failure or an error status.
pub async fn call(
    http: &reqwest::Client,
    method: &'static str,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let mut attempt = 0;
    loop {
        match call_once(http, method, url, token, body.clone()).await {
            Err(e) if attempt < 5 && e.downcast_ref::<ApiError>().is_some_and(|a| a.code == "overloaded") => {
                attempt += 1;
                let jitter = rand::random::<u64>() % 500;
                tokio::time::sleep(Duration::from_millis(1000 + jitter)).await;
            }
            other => return other,
        }
    }
}

async fn call_once(
    http: &reqwest::Client,
    method: &'static str,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let m = reqwest::Method::from_bytes(method.as_bytes()).context("bad method")?;
    let mut req = http.request(m, url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.with_context(|| format!("{method} {url} failed"))?;
    let status = res.status();
    let bytes = res.bytes().await.unwrap_or_default();
    if !status.is_success() {
        let code = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v["code"].as_str().map(str::to_owned))
            .unwrap_or_else(|| format!("http_{}", status.as_u16()));
        let path =
            url.split_once("//").and_then(|(_, r)| r.split_once('/')).map(|(_, p)| format!("/{p}")).unwrap_or_default();
        return Err(ApiError { method, path, status: status.as_u16(), code }.into());
    }
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&bytes).with_context(|| format!("{method} {url}: reply is not JSON"))
}

/// The stable code of an error, for counting (`timeout`, `connect`, an API code, ...).
pub fn error_code(e: &anyhow::Error) -> String {
    if let Some(api) = e.downcast_ref::<ApiError>() {
        return format!("{}:{}", api.status, api.code);
    }
    if let Some(r) = e.downcast_ref::<reqwest::Error>() {
        if r.is_timeout() {
            return "http_timeout".into();
        }
        if r.is_connect() {
            return "http_connect".into();
        }
    }
    let s = format!("{e:#}");
    if s.contains("timed out") || s.contains("timeout") {
        "timeout".into()
    } else if s.contains("Too many open files") {
        "too_many_open_files".into()
    } else {
        "other".into()
    }
}

/// Tokens from signup or login.
#[derive(Debug, Clone)]
pub struct Session {
    /// Bearer token.
    pub access_token: String,
    /// Single-use token that renews the access token.
    pub refresh_token: String,
    /// User id.
    pub user_id: String,
    /// When the access token was issued.
    pub issued: std::time::Instant,
    /// How long it lives (`expires_in`; 15 minutes by default).
    pub lifetime: Duration,
}

impl Session {
    /// Whether the access token is past two thirds of its life: time to renew it, as real
    /// clients do.
    pub fn is_old(&self) -> bool {
        self.issued.elapsed() >= self.lifetime * 2 / 3
    }
}

fn lifetime_of(v: &Value) -> Duration {
    Duration::from_secs(v["expires_in"].as_u64().unwrap_or(900).max(1))
}

fn session_of(v: &Value) -> anyhow::Result<Session> {
    Ok(Session {
        access_token: v["access_token"].as_str().context("no access_token in reply")?.to_string(),
        refresh_token: v["refresh_token"].as_str().context("no refresh_token in reply")?.to_string(),
        user_id: v["user"]["user_id"].as_str().context("no user.user_id in reply")?.to_string(),
        issued: std::time::Instant::now(),
        lifetime: lifetime_of(v),
    })
}

/// Renew `session`'s access token through `POST /v1/auth/refresh` when it is
/// [old](Session::is_old) (refresh tokens rotate: the new one replaces the old).
///
/// # Errors
/// The refresh was refused or failed.
pub async fn renew_if_old(http: &reqwest::Client, target: &str, session: &mut Session) -> anyhow::Result<()> {
    if !session.is_old() {
        return Ok(());
    }
    let v = call(
        http,
        "POST",
        &format!("{target}/v1/auth/refresh"),
        None,
        Some(json!({"refresh_token": session.refresh_token})),
    )
    .await?;
    session.access_token = v["access_token"].as_str().context("no access_token in reply")?.to_string();
    session.refresh_token = v["refresh_token"].as_str().context("no refresh_token in reply")?.to_string();
    session.issued = std::time::Instant::now();
    session.lifetime = lifetime_of(&v);
    Ok(())
}

/// `POST /v1/auth/login`.
///
/// # Errors
/// Wrong credentials or transport failure.
pub async fn login(http: &reqwest::Client, target: &str, email: &str, password: &str) -> anyhow::Result<Session> {
    let v = call(
        http,
        "POST",
        &format!("{target}/v1/auth/login"),
        None,
        Some(json!({"email": email, "password": password})),
    )
    .await?;
    session_of(&v)
}

/// Sign up, or log in when the email exists already; returns the user id.
///
/// # Errors
/// Anything but success or `email_taken` followed by a successful login.
pub async fn signup_or_login(
    http: &reqwest::Client,
    target: &str,
    email: &str,
    handle: &str,
    role: &str,
    password: &str,
) -> anyhow::Result<String> {
    let body = json!({"email": email, "password": password, "handle": handle, "role": role});
    match call(http, "POST", &format!("{target}/v1/auth/signup"), None, Some(body)).await {
        Ok(v) => Ok(session_of(&v)?.user_id),
        Err(e) if e.downcast_ref::<ApiError>().is_some_and(|a| a.code == "email_taken") => {
            Ok(login(http, target, email, password).await?.user_id)
        }
        Err(e) => Err(e),
    }
}
