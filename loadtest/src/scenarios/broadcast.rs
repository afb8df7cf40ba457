//! `broadcast`: creators open broadcasts, viewers join over signaling, hosts chat, and every
//! viewer measures how long each line took to reach it (fan-out delivery time).

use super::Ctx;
use crate::accounts::Pair;
use crate::signal::SignalClient;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn now_us() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or(0)
}

/// Shard `shard` of `shards`: hosts rooms `r` with `r % shards == shard`; the viewers of every
/// room are spread over shards too.
///
/// # Errors
/// Never for a session failure (those are counted).
pub async fn run(ctx: Arc<Ctx>, mine: Vec<(usize, Pair)>, shard: usize, shards: usize) -> anyhow::Result<()> {
    let rooms = ctx.args.rooms;
    let viewers = ctx.args.viewers;
    let all_fans: Vec<_> = mine.iter().map(|(_, p)| p.fan.clone()).collect();
    // Hosts: pair index r hosts room r.
    let hosts: Vec<(usize, Pair)> = mine.iter().filter(|(i, _)| *i < rooms).cloned().collect();
    let (room_tx, room_rx) = tokio::sync::watch::channel(Vec::<(usize, String)>::new());
    let hold_until = ctx.hold_until(rooms * viewers / shards.max(1)) + Duration::from_secs(2);
    let mut tasks = Vec::new();
    for (r, pair) in hosts {
        let ctx = ctx.clone();
        let room_tx = room_tx.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = host(&ctx, r, &pair, room_tx, hold_until).await {
                ctx.rec.count("hosts_failed", 1);
                let _ = e;
            }
        }));
    }
    // Viewers of this shard watch rooms hosted by any shard: room ids are found by listing.
    if !all_fans.is_empty() {
        let n_viewers = rooms * viewers / shards.max(1);
        for v in 0..n_viewers {
            let ctx = ctx.clone();
            let fan = all_fans[v % all_fans.len()].clone();
            let user_no = 1_000_000 + v * shards + shard;
            let rx = room_rx.clone();
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep_until(ctx.start_at(v).into()).await;
                match viewer(&ctx, user_no, &fan, v % rooms.max(1), rx, hold_until).await {
                    Ok(()) => ctx.rec.count("viewers_completed", 1),
                    Err(_) => ctx.rec.count("viewers_failed", 1),
                }
            }));
        }
    }
    drop(room_tx);
    for t in tasks {
        let _ = t.await;
    }
    Ok(())
}

/// Mixed soak: these pairs' creators broadcast and their fans watch the broadcasts.
///
/// # Errors
/// Never for a session failure.
pub async fn run_mixed(ctx: Arc<Ctx>, mine: Vec<(usize, Pair)>) -> anyhow::Result<()> {
    let hold_until = ctx.hold_until(ctx.total);
    let (room_tx, room_rx) = tokio::sync::watch::channel(Vec::<(usize, String)>::new());
    let mut tasks = Vec::new();
    let n = mine.len().max(1);
    for (k, (i, pair)) in mine.into_iter().enumerate() {
        let ctx2 = ctx.clone();
        let room_tx = room_tx.clone();
        let p2 = pair.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(ctx2.start_at(i).into()).await;
            let _ = host(&ctx2, k, &p2, room_tx, hold_until).await;
        }));
        let ctx3 = ctx.clone();
        let rx = room_rx.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until((ctx3.start_at(i) + Duration::from_secs(2)).into()).await;
            let _ = viewer(&ctx3, 2 * i + 1, &pair.fan, (k + 1) % n, rx, hold_until).await;
        }));
    }
    drop(room_tx);
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
    hold_until: Instant,
) -> anyhow::Result<()> {
    let (target, _) = ctx.target(2 * r).clone();
    let (_, http) = ctx.source(2 * r).clone();
    let (mut session, ws) = ctx.sign_in_and_connect(&pair.creator, 2 * r).await?;
    let opened = ctx
        .timed(
            "room_open",
            crate::api::call(
                &http,
                "POST",
                &format!("{target}/v1/rooms"),
                Some(&session.access_token),
                Some(json!({"title": title(r)})),
            ),
        )
        .await;
    let room_id = match opened {
        Ok(v) => v["id"].as_str().unwrap_or_default().to_string(),
        Err(e) => {
            ctx.disconnect(&ws);
            return Err(e);
        }
    };
    let res = host_loop(ctx, r, &room_id, &ws, &rooms, hold_until).await;
    let _ = ctx.timed("token_refresh", crate::api::renew_if_old(&http, &target, &mut session)).await;
    let _ =
        crate::api::call(&http, "POST", &format!("{target}/v1/rooms/{room_id}/end"), Some(&session.access_token), None)
            .await;
    ctx.disconnect(&ws);
    res
}

async fn host_loop(
    ctx: &Ctx,
    r: usize,
    room_id: &str,
    ws: &SignalClient,
    rooms: &tokio::sync::watch::Sender<Vec<(usize, String)>>,
    hold_until: Instant,
) -> anyhow::Result<()> {
    ctx.timed("join", ws.request(json!({"type": "join", "room_id": room_id}))).await?;
    rooms.send_modify(|v| v.push((r, room_id.to_string())));
    ctx.rec.gauge_add("sessions", 1);
    let every = Duration::from_secs(ctx.args.chat_secs.clamp(1, 5));
    let mut next_hb = Instant::now();
    while Instant::now() + every < hold_until {
        tokio::time::sleep(every).await;
        let text = format!("t={}", now_us());
        if ctx.timed("chat_send", ws.request(json!({"type": "chat", "text": text}))).await.is_ok() {
            ctx.rec.count("chat_sent", 1);
        }
        if Instant::now() >= next_hb {
            let _ = ctx.timed("heartbeat_rtt", ws.request(json!({"type": "heartbeat"}))).await;
            next_hb += Duration::from_secs(ctx.args.heartbeat_secs.max(1));
        }
    }
    ctx.rec.gauge_add("sessions", -1);
    Ok(())
}

async fn viewer(
    ctx: &Ctx,
    user_no: usize,
    fan: &crate::accounts::Account,
    room_no: usize,
    rooms: tokio::sync::watch::Receiver<Vec<(usize, String)>>,
    hold_until: Instant,
) -> anyhow::Result<()> {
    let (target, _) = ctx.target(user_no).clone();
    let (_, http) = ctx.source(user_no).clone();
    let (session, mut ws) = ctx.connect_shared(fan, user_no).await?;
    let Some(room_id) = find_room(&http, &target, &session, room_no, rooms).await else {
        ctx.rec.error("viewer:room_not_found");
        ctx.disconnect(&ws);
        anyhow::bail!("room {room_no} never appeared");
    };
    if let Err(e) = ctx.timed("join", ws.request(json!({"type": "join", "room_id": room_id}))).await {
        ctx.disconnect(&ws);
        return Err(e);
    }
    while Instant::now() < hold_until {
        let left = hold_until.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, ws.expect("chat")).await {
            Ok(Ok(ev)) => {
                if let Some(sent) =
                    ev["text"].as_str().and_then(|t| t.strip_prefix("t=")).and_then(|t| t.parse::<u128>().ok())
                {
                    let d = now_us().saturating_sub(sent);
                    ctx.rec.latency("chat_fanout", Duration::from_micros(d as u64));
                    ctx.rec.count("chat_delivered", 1);
                }
            }
            Ok(Err(_)) => {
                // `expect` times out when the host is quiet; keep waiting until the hold ends.
                continue;
            }
            Err(_) => break,
        }
    }
    ctx.disconnect(&ws);
    Ok(())
}

/// The title of load-test room `r` (how viewers in other processes find it).
pub(super) fn title(r: usize) -> String {
    format!("load test {r}")
}

/// Room `room_no`'s id: from the local hosts if this shard hosts it, else from the public list;
/// `None` after a minute without it.
pub(super) async fn find_room(
    http: &reqwest::Client,
    target: &str,
    session: &crate::api::Session,
    room_no: usize,
    mut rooms: tokio::sync::watch::Receiver<Vec<(usize, String)>>,
) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let title = title(room_no);
    loop {
        if let Some((_, id)) = rooms.borrow().iter().find(|(r, _)| *r == room_no) {
            return Some(id.clone());
        }
        let url = format!("{target}/v1/rooms?live=true&limit=500");
        if let Ok(list) = crate::api::call(http, "GET", &url, Some(&session.access_token), None).await {
            if let Some(room) = list["rooms"].as_array().and_then(|rs| rs.iter().find(|r| r["title"] == title.as_str()))
            {
                return room["id"].as_str().map(str::to_owned);
            }
        }
        if Instant::now() > deadline {
            return None;
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), rooms.changed()).await;
    }
}
