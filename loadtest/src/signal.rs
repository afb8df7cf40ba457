//! A signaling WebSocket client: requests with `request_id` awaiting their `ack`/`error`, and a
//! queue of server events. A reader task always drains the socket, so the server never sees
//! this client as a slow consumer.

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

/// How long a request waits for its reply, or an expected event for its arrival.
pub const TIMEOUT: Duration = Duration::from_secs(15);

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Value>>>>;

/// One open signaling socket.
pub struct SignalClient {
    out: mpsc::UnboundedSender<Message>,
    events: mpsc::UnboundedReceiver<Value>,
    pending: Pending,
    next_id: AtomicU64,
    /// The highest `room_seq` received (what a resume continues from).
    last_room_seq: Arc<AtomicU64>,
    /// Set when the socket ended.
    closed: Arc<AtomicBool>,
    /// The `welcome` event.
    pub welcome: Value,
}

/// Where a dropped socket was: its resume token and the last `room_seq` it saw.
#[derive(Debug, Clone)]
pub struct ResumeFrom {
    /// `welcome.resume_token` of the dropped socket.
    pub token: String,
    /// The last `room_seq` it received.
    pub last_seq: u64,
}

/// A refusal from the server (`error` reply) or a protocol failure.
#[derive(Debug, thiserror::Error)]
#[error("signaling: {0}")]
pub struct SignalError(pub String);

impl SignalClient {
    /// Connect from `source` to `dest` (the target's address) and wait for `welcome`.
    ///
    /// # Errors
    /// Connection or upgrade refused, or no welcome.
    pub async fn connect(source: IpAddr, dest: SocketAddr, target: &str, token: &str) -> anyhow::Result<Self> {
        Self::connect_resuming(source, dest, target, token, None).await
    }

    /// Like [`Self::connect`], resuming a dropped socket's place when `resume` is given.
    ///
    /// # Errors
    /// Connection or upgrade refused, or no welcome.
    pub async fn connect_resuming(
        source: IpAddr,
        dest: SocketAddr,
        target: &str,
        token: &str,
        resume: Option<&ResumeFrom>,
    ) -> anyhow::Result<Self> {
        let stream = crate::net::connect_from(source, dest).await?;
        let mut ws_url = format!("{}/v1/ws?access_token={token}", target.replacen("http", "ws", 1));
        if let Some(r) = resume {
            ws_url.push_str(&format!("&resume_token={}&last_seq={}", r.token, r.last_seq));
        }
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(0);
        let (ws, _) = tokio_tungstenite::client_async_with_config(ws_url, stream, Some(config))
            .await
            .map_err(|e| SignalError(format!("upgrade refused: {e}")))?;
        let (mut sink, mut source_stream) = ws.split();
        let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Message>();
        let (ev_tx, mut ev_rx) = mpsc::unbounded_channel::<Value>();
        let pending: Pending = Arc::default();
        let reader_pending = pending.clone();
        let pong_tx = out_tx.clone();
        let last_room_seq = Arc::new(AtomicU64::new(resume.map_or(0, |r| r.last_seq)));
        let closed = Arc::new(AtomicBool::new(false));
        let (reader_seq, reader_closed) = (last_room_seq.clone(), closed.clone());
        tokio::spawn(async move {
            while let Some(msg) = source_stream.next().await {
                let text = match msg {
                    Ok(Message::Text(t)) => t,
                    Ok(Message::Ping(p)) => {
                        let _ = pong_tx.send(Message::Pong(p));
                        continue;
                    }
                    Ok(Message::Close(_)) | Err(_) => break,
                    Ok(_) => continue,
                };
                let Ok(v) = serde_json::from_str::<Value>(&text) else { continue };
                if let Some(seq) = v["room_seq"].as_u64() {
                    reader_seq.fetch_max(seq, Ordering::Relaxed);
                }
                let kind = v["type"].as_str().unwrap_or_default();
                if kind == "ack" || (kind == "error" && v["request_id"].is_string()) {
                    let id = v["request_id"].as_str().unwrap_or_default().to_string();
                    let waiter = reader_pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
                    if let Some(w) = waiter {
                        let _ = w.send(v);
                    }
                } else if ev_tx.send(v).is_err() {
                    break;
                }
            }
            // Dropping the event sender tells waiters the socket is gone.
            reader_closed.store(true, Ordering::Release);
            reader_pending.lock().unwrap_or_else(|e| e.into_inner()).clear();
        });
        tokio::spawn(async move {
            while let Some(m) = out_rx.recv().await {
                let close = matches!(m, Message::Close(_));
                if sink.send(m).await.is_err() || close {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        let welcome = tokio::time::timeout(TIMEOUT, ev_rx.recv())
            .await
            .map_err(|_| SignalError("no welcome".into()))?
            .context("socket closed before welcome")?;
        Ok(Self { out: out_tx, events: ev_rx, pending, next_id: AtomicU64::new(1), last_room_seq, closed, welcome })
    }

    /// Whether the socket has ended.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// What a new socket needs to resume this one's place.
    pub fn resume_from(&self) -> Option<ResumeFrom> {
        let token = self.welcome["resume_token"].as_str()?.to_string();
        Some(ResumeFrom { token, last_seq: self.last_room_seq.load(Ordering::Relaxed) })
    }

    /// Drop queued events, returning the reason of a `room.ended` among them.
    pub fn drain_for_end(&mut self) -> Option<String> {
        let mut ended = None;
        while let Ok(v) = self.events.try_recv() {
            if v["type"] == "room.ended" {
                ended = Some(v["reason"].as_str().unwrap_or("ended").to_string());
            }
        }
        ended
    }

    /// Wait up to `within` for a chat with exactly `text`, skipping other events; returns the
    /// reason if the room ended meanwhile.
    ///
    /// # Errors
    /// Timeout or closed socket.
    pub async fn expect_chat(&mut self, text: &str, within: Duration) -> anyhow::Result<Option<String>> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(v)) if v["type"] == "chat" && v["text"] == text => return Ok(None),
                Ok(Some(v)) if v["type"] == "room.ended" => {
                    return Ok(Some(v["reason"].as_str().unwrap_or("ended").to_string()))
                }
                Ok(Some(_)) => continue,
                Ok(None) => return Err(SignalError("socket closed waiting for chat".into()).into()),
                Err(_) => return Err(SignalError("timeout waiting for chat".into()).into()),
            }
        }
    }

    /// Send `msg` (an object without `request_id`) and wait for its `ack` data.
    ///
    /// # Errors
    /// An `error` reply (its code), a closed socket or a timeout.
    pub async fn request(&self, mut msg: Value) -> anyhow::Result<Value> {
        let id = format!("r{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        msg["request_id"] = Value::String(id.clone());
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).insert(id.clone(), tx);
        self.out.send(Message::text(msg.to_string())).map_err(|_| SignalError("socket closed".into()))?;
        let reply = match tokio::time::timeout(TIMEOUT, rx).await {
            Ok(Ok(v)) => v,
            Ok(Err(_)) => return Err(SignalError("socket closed".into()).into()),
            Err(_) => {
                self.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
                return Err(SignalError("reply timeout".into()).into());
            }
        };
        if reply["type"] == "error" {
            return Err(SignalError(reply["code"].as_str().unwrap_or("error").to_string()).into());
        }
        Ok(reply["data"].clone())
    }

    /// Wait for the next event of type `kind`, skipping others.
    ///
    /// # Errors
    /// Timeout or closed socket.
    pub async fn expect(&mut self, kind: &str) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(v)) if v["type"] == kind => return Ok(v),
                Ok(Some(_)) => continue,
                Ok(None) => return Err(SignalError(format!("socket closed waiting for {kind}")).into()),
                Err(_) => return Err(SignalError(format!("timeout waiting for {kind}")).into()),
            }
        }
    }

    /// Drop queued events (keeps memory flat during long holds); returns how many.
    pub fn drain(&mut self) -> usize {
        let mut n = 0;
        while self.events.try_recv().is_ok() {
            n += 1;
        }
        n
    }

    /// Close with a normal close frame.
    pub fn close(&self) {
        let _ = self.out.send(Message::Close(None));
    }
}

/// The code of a signaling failure for error counts.
pub fn error_code(e: &anyhow::Error) -> String {
    match e.downcast_ref::<SignalError>() {
        Some(s) => format!("ws:{}", s.0.split(':').next().unwrap_or_default()),
        None => crate::api::error_code(e),
    }
}
