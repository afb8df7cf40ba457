//! `fanout`: R broadcasts with V viewers each. Viewers join first; once every viewer is in, the
//! hosts chat so that `--rate` deliveries per second are offered in all (each line reaches the V
//! viewers of its room) for `--duration`, then the viewers drain. Viewers read lean (no JSON
//! parse per line) so the load client leaves the cores to the server. The orchestrator turns the
//! counts into delivered/s, loss and server CPU per delivery over the send window
//! ([`crate::orchestrate::fanout_figures`]).

use super::Ctx;
use crate::accounts::Pair;
use crate::signal::SignalClient;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio_tungstenite::tungstenite::Message;

/// Between the last viewer's join and the first line.
pub const SETTLE: Duration = Duration::from_secs(5);
/// Viewers keep reading this long after the last line.
pub const DRAIN: Duration = Duration::from_secs(3);
/// Marks a measured line: `fo:<unix µs>`.
const MARK: &str = "\"text\":\"fo:";
/// Latency samples a viewer collects before handing them to the recorder in one lock...
const BATCH: usize = 256;
/// ... or after this long, so the timeline follows the deliveries.
const BATCH_AGE: Duration = Duration::from_millis(250);

fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// When the hosts start and stop sending, for viewers that join at `ramp` per second.
pub fn send_window(t0: Instant, rooms: usize, viewers: usize, ramp: f64, duration: Duration) -> (Instant, Instant) {
    let start = t0 + Duration::from_secs_f64((rooms * viewers) as f64 / ramp.max(0.1)) + SETTLE;
    (start, start + duration)
}

/// Lines per second each host sends to offer `rate` deliveries per second in all.
pub fn lines_per_sec(rate: f64, rooms: usize, viewers: usize) -> f64 {
    rate / (rooms.max(1) * viewers.max(1)) as f64
}

/// The sending time of a chat line, from an event's bytes (`None` for any other event).
pub fn sent_at_us(event: &str) -> Option<u64> {
    let at = event.find(MARK)? + MARK.len();
    let digits = event[at..].bytes().take_while(u8::is_ascii_digit).count();
    event[at..at + digits].parse().ok()
}

/// Shard `shard` of `shards`: hosts rooms `r` with `r % shards == shard` and its share of the
/// viewers (global viewer `g` watches room `g % rooms`).
///
/// # Errors
/// Never for a session failure (those are counted).
pub async fn run(ctx: Arc<Ctx>, mine: Vec<(usize, Pair)>, shard: usize, shards: usize) -> anyhow::Result<()> {
    let (rooms, viewers) = (ctx.args.rooms, ctx.args.viewers);
    let (send_from, send_until) = send_window(ctx.t0, rooms, viewers, ctx.args.ramp, ctx.args.duration);
    let fans: Vec<_> = mine.iter().map(|(_, p)| p.fan.clone()).collect();
    let (room_tx, room_rx) = tokio::sync::watch::channel(Vec::<(usize, String)>::new());
    let mut tasks = Vec::new();
    for (r, pair) in mine.iter().filter(|(i, _)| *i < rooms).cloned() {
        let (ctx, room_tx) = (ctx.clone(), room_tx.clone());
        tasks.push(tokio::spawn(async move {
            if host(&ctx, r, &pair, room_tx, send_from, send_until).await.is_err() {
                ctx.rec.count("hosts_failed", 1);
            }
        }));
    }
    drop(room_tx);
    if !fans.is_empty() {
        for g in (shard..rooms * viewers).step_by(shards.max(1)) {
            let ctx = ctx.clone();
            let fan = fans[(g / shards.max(1)) % fans.len()].clone();
            let rx = room_rx.clone();
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep_until(ctx.start_at(g).into()).await;
                match viewer(&ctx, 1_000_000 + g, &fan, g % rooms.max(1), rx, send_from, send_until + DRAIN).await {
                    Ok(()) => ctx.rec.count("viewers_completed", 1),
                    Err(_) => ctx.rec.count("viewers_failed", 1),
                }
            }));
        }
    }
    for t in tasks {
        let _ = t.await;
    }
    Ok(())
}

async fn host(
    ctx: &Ctx,
    r: usize,
    pair: &Pair,
    rooms: tokio::sync::watch::Sender<Vec<(usize, String)>>,
    send_from: Instant,
    send_until: Instant,
) -> anyhow::Result<()> {
    let (target, _) = ctx.target(2 * r).clone();
    let (_, http) = ctx.source(2 * r).clone();
    let (session, ws) = ctx.sign_in_and_connect(&pair.creator, 2 * r).await?;
    let ws = Arc::new(ws);
    let url = format!("{target}/v1/rooms");
    let opened = crate::api::call(
        &http,
        "POST",
        &url,
        Some(&session.access_token),
        Some(json!({"title": super::broadcast::title(r)})),
    );
    let room_id = match ctx.timed("room_open", opened).await {
        Ok(v) => v["id"].as_str().unwrap_or_default().to_string(),
        Err(e) => {
            ctx.disconnect(&ws);
            return Err(e);
        }
    };
    let res = send_lines(ctx, r, &room_id, &ws, &rooms, send_from, send_until).await;
    let end = format!("{target}/v1/rooms/{room_id}/end");
    let _ = crate::api::call(&http, "POST", &end, Some(&session.access_token), None).await;
    ctx.disconnect(&ws);
    res
}

/// Join as host, then send this room's share of the rate in `[send_from, send_until)`; lines go
/// out on schedule without waiting for the previous acknowledgement.
async fn send_lines(
    ctx: &Ctx,
    r: usize,
    room_id: &str,
    ws: &Arc<SignalClient>,
    rooms: &tokio::sync::watch::Sender<Vec<(usize, String)>>,
    send_from: Instant,
    send_until: Instant,
) -> anyhow::Result<()> {
    ctx.timed("join", ws.request(json!({"type": "join", "room_id": room_id}))).await?;
    rooms.send_modify(|v| v.push((r, room_id.to_string())));
    ctx.rec.gauge_add("sessions", 1);
    let (n_rooms, viewers) = (ctx.args.rooms.max(1), ctx.args.viewers);
    let period = Duration::from_secs_f64(1.0 / lines_per_sec(ctx.args.rate, n_rooms, viewers).max(0.01));
    // Rooms take turns within a period so the lines of all rooms do not arrive at once.
    let first = send_from + period.mul_f64((r % n_rooms) as f64 / n_rooms as f64);
    let mut tick = tokio::time::interval_at(first.into(), period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let heartbeat = Duration::from_secs(ctx.args.heartbeat_secs.max(1));
    let mut next_heartbeat = Instant::now() + heartbeat;
    let sent_key = format!("fanout_sent.{r}");
    let mut inflight = Vec::new();
    loop {
        let at = tick.tick().await;
        if at.into_std() >= send_until {
            break;
        }
        let line = ws.clone();
        let text = format!("fo:{}", now_us());
        inflight.push(tokio::spawn(async move { line.request(json!({"type": "chat", "text": text})).await }));
        if Instant::now() >= next_heartbeat {
            next_heartbeat += heartbeat;
            let ws = ws.clone();
            tokio::spawn(async move { ws.request(json!({"type": "heartbeat"})).await });
        }
        if inflight.len() >= 64 {
            settle(ctx, &sent_key, &mut inflight).await;
        }
    }
    settle(ctx, &sent_key, &mut inflight).await;
    ctx.rec.gauge_add("sessions", -1);
    Ok(())
}

/// Count the acknowledged lines among `inflight` (the rest as errors).
async fn settle(
    ctx: &Ctx,
    sent_key: &str,
    inflight: &mut Vec<tokio::task::JoinHandle<anyhow::Result<serde_json::Value>>>,
) {
    for h in inflight.drain(..) {
        match h.await {
            Ok(Ok(_)) => ctx.rec.count(sent_key, 1),
            Ok(Err(e)) => ctx.rec.error(&format!("chat_send:{}", crate::signal::error_code(&e))),
            Err(_) => ctx.rec.error("chat_send:task"),
        }
    }
}

async fn viewer(
    ctx: &Ctx,
    user_no: usize,
    fan: &crate::accounts::Account,
    room_no: usize,
    rooms: tokio::sync::watch::Receiver<Vec<(usize, String)>>,
    send_from: Instant,
    hold_until: Instant,
) -> anyhow::Result<()> {
    let (target, addr) = ctx.target(user_no).clone();
    let (source, http) = ctx.source(user_no).clone();
    let session = ctx.shared_session(fan, user_no).await?;
    let room_id = match super::broadcast::find_room(&http, &target, &session, room_no, rooms).await {
        Some(id) => id,
        None => {
            ctx.rec.error("viewer:room_not_found");
            anyhow::bail!("room {room_no} never appeared");
        }
    };
    let stream = crate::net::connect_from(source, addr).await?;
    let url = format!("{}/v1/ws?access_token={}", target.replacen("http", "ws", 1), session.access_token);
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let started = Instant::now();
    let (mut ws, _) = match tokio_tungstenite::client_async_with_config(url, stream, Some(config)).await {
        Ok(ws) => ws,
        Err(e) => {
            ctx.rec.error("ws_connect:upgrade");
            anyhow::bail!("upgrade refused: {e}");
        }
    };
    ctx.rec.latency("ws_connect", started.elapsed());
    ctx.rec.gauge_add("sockets", 1);
    let res = watch(ctx, &mut ws, &room_id, room_no, send_from, hold_until).await;
    let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
    ctx.rec.gauge_add("sockets", -1);
    res
}

type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// Join `room_id`, then time every measured line until `hold_until`.
async fn watch(
    ctx: &Ctx,
    ws: &mut Ws,
    room_id: &str,
    room_no: usize,
    send_from: Instant,
    hold_until: Instant,
) -> anyhow::Result<()> {
    let join = json!({"type": "join", "room_id": room_id, "request_id": "j"}).to_string();
    let started = Instant::now();
    ws.send(Message::text(join)).await?;
    let deadline = tokio::time::Instant::now() + crate::signal::TIMEOUT;
    loop {
        let msg = match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(m))) => m,
            Ok(_) => {
                ctx.rec.error("join:closed");
                anyhow::bail!("closed before joining");
            }
            Err(_) => {
                ctx.rec.error("join:timeout");
                anyhow::bail!("no reply to join");
            }
        };
        let Message::Text(t) = msg else { continue };
        if t.contains("\"request_id\":\"j\"") {
            if t.contains("\"type\":\"ack\"") {
                break;
            }
            ctx.rec.error("join:refused");
            anyhow::bail!("join refused: {t}");
        }
    }
    ctx.rec.latency("join", started.elapsed());
    if Instant::now() > send_from {
        // Joined after the lines began: its deliveries could not be told from losses.
        ctx.rec.error("viewer:joined_late");
        anyhow::bail!("joined after sending began");
    }
    ctx.rec.count(&format!("fanout_joined.{room_no}"), 1);
    let mut samples: Vec<Duration> = Vec::with_capacity(BATCH);
    let flush = |samples: &mut Vec<Duration>| {
        if !samples.is_empty() {
            ctx.rec.latencies("chat_fanout", samples);
            ctx.rec.count("chat_delivered", samples.len() as u64);
            ctx.rec.gauge_add("delivered", samples.len() as i64);
            samples.clear();
        }
    };
    let end = tokio::time::Instant::from_std(hold_until);
    let mut dropped = false;
    let mut flushed = Instant::now();
    loop {
        match tokio::time::timeout_at(end, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                if let Some(sent) = sent_at_us(t.as_str()) {
                    samples.push(Duration::from_micros(now_us().saturating_sub(sent)));
                    if samples.len() == BATCH || flushed.elapsed() >= BATCH_AGE {
                        flush(&mut samples);
                        flushed = Instant::now();
                    }
                }
            }
            Ok(Some(Ok(_))) => {}
            Ok(_) => {
                dropped = true;
                break;
            }
            Err(_) => break,
        }
    }
    flush(&mut samples);
    if dropped {
        ctx.rec.error("viewer:dropped");
        anyhow::bail!("the server closed the socket");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measured_lines_are_found_in_the_event_bytes() {
        let ev = r#"{"seq":9,"type":"chat","room_id":"r","from":"u","handle":"h","text":"fo:1733350000123456","at":1}"#;
        assert_eq!(sent_at_us(ev), Some(1_733_350_000_123_456));
        assert_eq!(sent_at_us(r#"{"seq":1,"type":"chat","text":"hello"}"#), None);
        assert_eq!(sent_at_us(r#"{"seq":2,"type":"viewers","count":3}"#), None);
    }

    #[test]
    fn the_rate_is_shared_by_every_room_and_viewer() {
        // 100,000 deliveries/s over 50 rooms of 200 viewers: 10 lines/s per host.
        assert!((lines_per_sec(100_000.0, 50, 200) - 10.0).abs() < 1e-9);
        let t0 = Instant::now();
        let (from, until) = send_window(t0, 50, 200, 500.0, Duration::from_secs(60));
        assert_eq!(from - t0, Duration::from_secs(20) + SETTLE);
        assert_eq!(until - from, Duration::from_secs(60));
    }
}
