//! `private`: each pair requests, accepts, joins, exchanges offer/answer/candidates, heartbeats,
//! chats, holds until the soak ends, then ends the room.

use super::Ctx;
use crate::accounts::Pair;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A fake but well-formed SDP of realistic size (~1.5 KB).
pub fn fake_sdp(kind: &str) -> String {
    let mut s = format!("v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\na=x-kind:{kind}\r\n");
    for (i, m) in ["audio 9 UDP/TLS/RTP/SAVPF 111", "video 9 UDP/TLS/RTP/SAVPF 96 102"].iter().enumerate() {
        s.push_str(&format!(
            "m={m}\r\nc=IN IP4 0.0.0.0\r\na=mid:{i}\r\na=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdef0123456789\r\n\
             a=fingerprint:sha-256 AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89\r\n\
             a=setup:actpass\r\na=rtcp-mux\r\na=sendrecv\r\n"
        ));
    }
    s
}

/// Run every pair of this shard, each starting on the ramp schedule.
///
/// # Errors
/// Never for a session failure (those are counted).
pub async fn run(ctx: Arc<Ctx>, pairs: Vec<(usize, Pair)>) -> anyhow::Result<()> {
    // Every session holds equally long and they end in the order, and at the rate, they
    // started: all of them are held together for `duration` after the ramp, and the ends do not
    // arrive as one burst (10,000 simultaneous ends exhausted the servers' database pools).
    let hold_for = ctx.hold_until(ctx.total).saturating_duration_since(ctx.t0);
    let mut tasks = Vec::with_capacity(pairs.len());
    for (i, pair) in pairs {
        let ctx = ctx.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(ctx.start_at(i).into()).await;
            let hold_until = ctx.start_at(i) + hold_for;
            let outcome = if ctx.faults.is_empty() {
                session(&ctx, i, &pair, hold_until).await.map(|()| super::private_chaos::Outcome::Completed)
            } else {
                super::private_chaos::session(&ctx, i, &pair, hold_until).await
            };
            match outcome {
                Ok(super::private_chaos::Outcome::Completed) => ctx.rec.count("sessions_completed", 1),
                Ok(super::private_chaos::Outcome::Ended(reason)) => {
                    ctx.rec.count("sessions_ended_with_reason", 1);
                    let bucket = crate::chaos::bucket(&ctx.faults, ctx.t0.elapsed());
                    ctx.rec.count(&format!("{bucket}ended_{reason}"), 1);
                }
                Err(e) => {
                    ctx.rec.count("sessions_failed", 1);
                    if !ctx.faults.is_empty() {
                        let bucket = crate::chaos::bucket(&ctx.faults, ctx.t0.elapsed());
                        ctx.rec.count(&format!("{bucket}lost"), 1);
                        ctx.rec.error(&format!("lost:{}", crate::signal::error_code(&e)));
                    }
                    if std::env::var_os("TANDEM_LOADTEST_VERBOSE").is_some() {
                        eprintln!("pair {i}: {e:#}");
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    Ok(())
}

async fn session(ctx: &Ctx, i: usize, pair: &Pair, hold_until: Instant) -> anyhow::Result<()> {
    // Creator and fan sit on different nodes when there are several targets.
    let (ci, fi) = (2 * i, 2 * i + 1);
    let (mut creator, mut cws) = ctx.sign_in_and_connect(&pair.creator, ci).await?;
    let fan_result = ctx.sign_in_and_connect(&pair.fan, fi).await;
    let (mut fan, mut fws) = match fan_result {
        Ok(v) => v,
        Err(e) => {
            ctx.disconnect(&cws);
            return Err(e);
        }
    };
    let result = run_session(ctx, ci, fi, &mut creator, &mut fan, &mut cws, &mut fws, hold_until).await;
    ctx.disconnect(&cws);
    ctx.disconnect(&fws);
    result
}

#[allow(clippy::too_many_arguments)]
async fn run_session(
    ctx: &Ctx,
    ci: usize,
    fi: usize,
    creator: &mut crate::api::Session,
    fan: &mut crate::api::Session,
    cws: &mut crate::signal::SignalClient,
    fws: &mut crate::signal::SignalClient,
    hold_until: Instant,
) -> anyhow::Result<()> {
    let (ctarget, _) = ctx.target(ci);
    let (ftarget, _) = ctx.target(fi);
    let (_, chttp) = ctx.source(ci);
    let (_, fhttp) = ctx.source(fi);
    let call = crate::api::call;

    if ctx.args.price_per_minute > 0 {
        let price = ctx.args.price_per_minute;
        // Enough credit for every started minute of the longest possible hold, plus one.
        let minutes = (hold_until.saturating_duration_since(Instant::now()).as_secs() / 60 + 2) as i64;
        ctx.timed(
            "pricing",
            call(
                chttp,
                "PUT",
                &format!("{ctarget}/v1/creator/pricing"),
                Some(&creator.access_token),
                Some(json!({"price_per_minute": price})),
            ),
        )
        .await?;
        ctx.timed(
            "top_up",
            call(
                fhttp,
                "POST",
                &format!("{ftarget}/v1/dev/wallet/top-ups"),
                Some(&fan.access_token),
                Some(json!({"amount": (price * minutes).max(100)})),
            ),
        )
        .await?;
    }
    ctx.timed(
        "presence",
        call(
            chttp,
            "PUT",
            &format!("{ctarget}/v1/presence"),
            Some(&creator.access_token),
            Some(json!({"status": "online"})),
        ),
    )
    .await?;

    // Fan asks; the creator hears about it over signaling.
    let t = Instant::now();
    let request = ctx
        .timed(
            "private_request",
            call(
                fhttp,
                "POST",
                &format!("{ftarget}/v1/private-requests"),
                Some(&fan.access_token),
                Some(json!({"creator_id": creator.user_id})),
            ),
        )
        .await?;
    let request_id = request["id"].as_str().unwrap_or_default().to_string();
    ctx.timed("request_notify", cws.expect("private.request")).await?;
    ctx.rec.latency("request_to_creator", t.elapsed());

    // Creator accepts: the private room with both slots.
    let accepted = ctx
        .timed(
            "private_accept",
            call(
                chttp,
                "POST",
                &format!("{ctarget}/v1/private-requests/{request_id}/accept"),
                Some(&creator.access_token),
                None,
            ),
        )
        .await?;
    let room_id = accepted["room"]["id"].as_str().unwrap_or_default().to_string();
    let slots = accepted["room"]["slots"].as_array().map(|s| s.len()).unwrap_or(0);
    if slots != 2 {
        ctx.rec.error("room_without_two_slots");
        anyhow::bail!("accepted room has {slots} slots");
    }
    ctx.timed("accept_notify", fws.expect("private.accepted")).await?;

    let sides = Sides { chttp, ctarget, fhttp, ftarget };
    let result = hold(ctx, &room_id, &sides, creator, fan, cws, fws, hold_until).await;

    // End (idempotent), whatever happened during the hold; a long hold outlives the access
    // token, so renew it first like a real client.
    ctx.timed("token_refresh", crate::api::renew_if_old(chttp, ctarget, creator)).await?;
    let end = ctx
        .timed(
            "room_end",
            call(chttp, "POST", &format!("{ctarget}/v1/rooms/{room_id}/end"), Some(&creator.access_token), None),
        )
        .await;
    result?;
    end?;
    ctx.timed("ended_notify", fws.expect("room.ended")).await?;
    Ok(())
}

/// Where each side renews its access token (its HTTP client and node).
struct Sides<'a> {
    chttp: &'a reqwest::Client,
    ctarget: &'a str,
    fhttp: &'a reqwest::Client,
    ftarget: &'a str,
}

/// Keep a signed-in side's socket open as real clients do: once its access token is old,
/// refresh it over HTTP and renew the open socket in-band (`auth`), before the server would
/// close the socket at the old token's expiry.
async fn renew_socket(
    ctx: &Ctx,
    http: &reqwest::Client,
    target: &str,
    session: &mut crate::api::Session,
    ws: &mut crate::signal::SignalClient,
) -> anyhow::Result<()> {
    if !session.is_old() {
        return Ok(());
    }
    ctx.timed("token_refresh", crate::api::renew_if_old(http, target, session)).await?;
    ctx.timed("socket_renew", ws.request(json!({"type": "auth", "token": session.access_token}))).await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn hold(
    ctx: &Ctx,
    room_id: &str,
    sides: &Sides<'_>,
    creator: &mut crate::api::Session,
    fan: &mut crate::api::Session,
    cws: &mut crate::signal::SignalClient,
    fws: &mut crate::signal::SignalClient,
    hold_until: Instant,
) -> anyhow::Result<()> {
    ctx.timed("join", cws.request(json!({"type": "join", "room_id": room_id}))).await?;
    ctx.timed("join", fws.request(json!({"type": "join", "room_id": room_id}))).await?;
    ctx.rec.gauge_add("sessions", 1);
    let r = exchange_and_hold(ctx, sides, creator, fan, cws, fws, hold_until).await;
    ctx.rec.gauge_add("sessions", -1);
    r
}

async fn exchange_and_hold(
    ctx: &Ctx,
    sides: &Sides<'_>,
    creator: &mut crate::api::Session,
    fan: &mut crate::api::Session,
    cws: &mut crate::signal::SignalClient,
    fws: &mut crate::signal::SignalClient,
    hold_until: Instant,
) -> anyhow::Result<()> {
    // Offer fan -> creator, answer creator -> fan, two candidates each way.
    let t = Instant::now();
    fws.request(json!({"type": "offer", "to": creator.user_id, "sdp": fake_sdp("offer")})).await?;
    ctx.timed("relay_wait", cws.expect("offer")).await?;
    ctx.rec.latency("signaling_relay", t.elapsed());
    let t = Instant::now();
    cws.request(json!({"type": "answer", "to": fan.user_id, "sdp": fake_sdp("answer")})).await?;
    fws.expect("answer").await?;
    ctx.rec.latency("signaling_relay", t.elapsed());
    for k in 0..2 {
        let cand = json!({"candidate": format!("candidate:{k} 1 udp 2122260223 127.0.0.1 5{k}000 typ host"), "sdpMid": "0", "sdpMLineIndex": 0});
        let t = Instant::now();
        fws.request(json!({"type": "candidate", "to": creator.user_id, "candidate": cand})).await?;
        cws.expect("candidate").await?;
        ctx.rec.latency("signaling_relay", t.elapsed());
        let t = Instant::now();
        cws.request(json!({"type": "candidate", "to": fan.user_id, "candidate": cand})).await?;
        fws.expect("candidate").await?;
        ctx.rec.latency("signaling_relay", t.elapsed());
    }

    // Hold: heartbeats from both sides, a chat line now and then, until the soak ends. Both
    // sides heartbeat once as soon as the session is up, as clients do, however short the hold.
    ctx.timed("heartbeat_rtt", cws.request(json!({"type": "heartbeat"}))).await?;
    ctx.timed("heartbeat_rtt", fws.request(json!({"type": "heartbeat"}))).await?;
    let hb = Duration::from_secs(ctx.args.heartbeat_secs.max(1));
    let chat_every = ctx.args.chat_secs;
    let relay_every = ctx.args.relay_secs;
    // Every session is up (and every sign-in done) once the last one has started.
    let steady_from = ctx.start_at(ctx.total.saturating_sub(1));
    let mut next_hb = Instant::now() + hb;
    let mut next_chat = if chat_every > 0 { Some(Instant::now()) } else { None };
    let mut next_relay = if relay_every > 0 { Some(Instant::now() + Duration::from_secs(relay_every)) } else { None };
    let mut k = 0u64;
    loop {
        let next = [next_chat, next_relay].into_iter().flatten().fold(next_hb, Instant::min);
        if next >= hold_until {
            tokio::time::sleep_until(hold_until.into()).await;
            return Ok(());
        }
        tokio::time::sleep_until(next.into()).await;
        cws.drain();
        fws.drain();
        if Instant::now() >= next_hb {
            renew_socket(ctx, sides.chttp, sides.ctarget, creator, cws).await?;
            renew_socket(ctx, sides.fhttp, sides.ftarget, fan, fws).await?;
            ctx.timed("heartbeat_rtt", cws.request(json!({"type": "heartbeat"}))).await?;
            ctx.timed("heartbeat_rtt", fws.request(json!({"type": "heartbeat"}))).await?;
            next_hb += hb;
        }
        if let Some(c) = next_chat {
            if Instant::now() >= c {
                let t = Instant::now();
                fws.request(json!({"type": "chat", "text": "hello from the load test"})).await?;
                let got: Value = ctx.timed("chat_wait", cws.expect("chat")).await?;
                if got["text"] != "hello from the load test" {
                    anyhow::bail!("chat arrived altered");
                }
                ctx.rec.latency("chat_fanout", t.elapsed());
                next_chat = Some(c + Duration::from_secs(chat_every));
            }
        }
        if let Some(r) = next_relay {
            if Instant::now() >= r {
                k += 1;
                let cand = json!({"candidate": format!("candidate:{} 1 udp 2122260223 127.0.0.1 {} typ host", k + 2, 40000 + k % 20000), "sdpMid": "0", "sdpMLineIndex": 0});
                let t = Instant::now();
                fws.request(json!({"type": "candidate", "to": creator.user_id, "candidate": cand})).await?;
                ctx.timed("relay_wait", cws.expect("candidate")).await?;
                let name = if t >= steady_from { "signaling_relay_steady" } else { "signaling_relay" };
                ctx.rec.latency(name, t.elapsed());
                next_relay = Some(r + Duration::from_secs(relay_every));
            }
        }
    }
}
