//! `private` under `--chaos`: the same session, played by clients that live through faults the
//! way real ones do. A dropped socket reconnects to the next node with its `resume_token` and
//! last `room_seq` (or joins again when the place is gone); a refused or unreachable HTTP call is
//! retried on another node; a heartbeat refused while Redis is down is retried. What each
//! session lived through is counted under the fault in effect ([`crate::chaos::bucket`]):
//! `resumed`, `rejoined`, `ended_<reason>` (the server ended the room and said why), `lost`
//! (the session broke with no reason given: must be 0), `messages_lost` (a chat acknowledged
//! to the sender that never reached the peer), and the `recovery` latency (socket lost →
//! back in the room). With a price, each session's charged minutes (from the fan's wallet) are
//! checked against the wall-clock minutes the client saw: `minutes_skipped` and
//! `minutes_doubled` must be 0.

use super::Ctx;
use crate::accounts::Pair;
use crate::api::{ApiError, Session};
use crate::signal::SignalClient;
use anyhow::Context;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// How long a client keeps trying to get back before the session counts as lost.
const RECOVER_FOR: Duration = Duration::from_secs(90);

/// How a session that did not break ended.
pub(super) enum Outcome {
    /// Held to the end and ended by the creator.
    Completed,
    /// The server ended the room, with this reason.
    Ended(String),
}

/// One side of the session.
struct Side {
    /// User number (picks the first node and the source address).
    user: usize,
    /// How many nodes past its first one it moved to.
    shift: usize,
    session: Session,
    ws: SignalClient,
}

impl Ctx {
    fn bucket(&self) -> String {
        crate::chaos::bucket(&self.faults, self.t0.elapsed())
    }

    /// Count `what` under the fault in effect.
    fn chaos_count(&self, what: &str) {
        self.rec.count(&format!("{}{what}", self.bucket()), 1);
    }

    fn side_target(&self, side: &Side) -> &(String, std::net::SocketAddr) {
        &self.targets[(side.user + side.shift) % self.targets.len()]
    }

    /// An HTTP call that moves to the next node on transport errors and 5xx, as a client behind
    /// a load balancer would, for up to [`RECOVER_FOR`].
    async fn call_any(
        &self,
        side: &mut Side,
        method: &'static str,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let give_up = Instant::now() + RECOVER_FOR;
        loop {
            let (target, _) = self.side_target(side).clone();
            let (_, http) = self.source(side.user);
            let r = async {
                crate::api::renew_if_old(http, &target, &mut side.session).await?;
                crate::api::call(
                    http,
                    method,
                    &format!("{target}{path}"),
                    Some(&side.session.access_token),
                    body.clone(),
                )
                .await
            }
            .await;
            match r {
                Ok(v) => return Ok(v),
                Err(e) if Instant::now() < give_up && retryable(&e) => {
                    self.rec.error(&format!("chaos_retry:{}", crate::api::error_code(&e)));
                    side.shift += 1;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Get `side` back into `room` on a new socket; `Some(reason)` when the room is gone.
    async fn recover(&self, side: &mut Side, room: &str) -> anyhow::Result<Option<String>> {
        let lost_at = Instant::now();
        let bucket = self.bucket();
        let resume = side.ws.resume_from();
        let give_up = lost_at + RECOVER_FOR;
        loop {
            let (target, addr) = self.side_target(side).clone();
            let (source, http) = self.source(side.user).clone();
            let attempt = async {
                crate::api::renew_if_old(&http, &target, &mut side.session).await?;
                SignalClient::connect_resuming(source, addr, &target, &side.session.access_token, resume.as_ref()).await
            }
            .await;
            let ws = match attempt {
                Ok(ws) => ws,
                Err(e) if Instant::now() < give_up => {
                    self.rec.error(&format!("chaos_reconnect:{}", crate::signal::error_code(&e)));
                    side.shift += 1;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
                Err(e) => return Err(e.context("could not reconnect")),
            };
            side.ws.close();
            side.ws = ws;
            if side.ws.welcome["resumed"] == true {
                self.rec.count(&format!("{bucket}resumed"), 1);
            } else {
                match side.ws.request(json!({"type": "join", "room_id": room})).await {
                    Ok(_) => self.rec.count(&format!("{bucket}rejoined"), 1),
                    Err(e) if gone(&e) => return Ok(Some("room_gone".into())),
                    Err(e) if Instant::now() < give_up => {
                        self.rec.error(&format!("chaos_rejoin:{}", crate::signal::error_code(&e)));
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                    Err(e) => return Err(e.context("could not join again")),
                }
            }
            self.rec.latency(&format!("{bucket}recovery"), lost_at.elapsed());
            return Ok(None);
        }
    }

    /// A heartbeat that survives a dropped socket and a Redis outage.
    async fn heartbeat(&self, side: &mut Side, room: &str) -> anyhow::Result<Option<String>> {
        let give_up = Instant::now() + RECOVER_FOR;
        loop {
            if side.ws.is_closed() {
                if let Some(reason) = self.recover(side, room).await? {
                    return Ok(Some(reason));
                }
            }
            match side.ws.request(json!({"type": "heartbeat"})).await {
                Ok(_) => return Ok(None),
                Err(e) if Instant::now() >= give_up => return Err(e.context("heartbeats kept failing")),
                Err(e) => {
                    let code = crate::signal::error_code(&e);
                    self.rec.error(&format!("chaos_heartbeat:{code}"));
                    if code == "ws:not_in_room" {
                        match side.ws.request(json!({"type": "join", "room_id": room})).await {
                            Err(e) if gone(&e) => return Ok(Some("room_gone".into())),
                            _ => continue,
                        }
                    }
                    if !side.ws.is_closed() {
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            }
        }
    }
}

fn retryable(e: &anyhow::Error) -> bool {
    match e.downcast_ref::<ApiError>() {
        Some(a) => a.status >= 500,
        None => true, // transport: connection refused, reset, timeout
    }
}

fn gone(e: &anyhow::Error) -> bool {
    let code = crate::signal::error_code(e);
    code == "ws:room_not_found" || code == "ws:room_ended" || code == "ws:forbidden"
}

async fn connect(ctx: &Ctx, account: &crate::accounts::Account, user: usize) -> anyhow::Result<Side> {
    let give_up = Instant::now() + RECOVER_FOR;
    let mut shift = 0;
    loop {
        let (target, addr) = ctx.targets[(user + shift) % ctx.targets.len()].clone();
        let (source, http) = ctx.source(user).clone();
        let r = async {
            let session = crate::api::login(&http, &target, &account.email, crate::accounts::SEED_PASSWORD).await?;
            let ws = SignalClient::connect(source, addr, &target, &session.access_token).await?;
            anyhow::Ok((session, ws))
        }
        .await;
        match r {
            Ok((session, ws)) => {
                ctx.rec.gauge_add("sockets", 1);
                return Ok(Side { user, shift, session, ws });
            }
            Err(e) if Instant::now() < give_up && retryable(&e) => {
                ctx.rec.error(&format!("chaos_connect:{}", crate::signal::error_code(&e)));
                shift += 1;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Play pair `i` under chaos.
pub(super) async fn session(ctx: &Ctx, i: usize, pair: &Pair, hold_until: Instant) -> anyhow::Result<Outcome> {
    let mut creator = connect(ctx, &pair.creator, 2 * i).await?;
    let mut fan = match connect(ctx, &pair.fan, 2 * i + 1).await {
        Ok(f) => f,
        Err(e) => {
            ctx.disconnect(&creator.ws);
            return Err(e);
        }
    };
    let r = play(ctx, i, &mut creator, &mut fan, hold_until).await;
    ctx.disconnect(&creator.ws);
    ctx.disconnect(&fan.ws);
    r
}

async fn play(ctx: &Ctx, i: usize, creator: &mut Side, fan: &mut Side, hold_until: Instant) -> anyhow::Result<Outcome> {
    let price = ctx.args.price_per_minute;
    if price > 0 {
        let minutes = (hold_until.saturating_duration_since(Instant::now()).as_secs() / 60 + 3) as i64;
        ctx.call_any(creator, "PUT", "/v1/creator/pricing", Some(json!({"price_per_minute": price}))).await?;
        ctx.call_any(fan, "POST", "/v1/dev/wallet/top-ups", Some(json!({"amount": (price * minutes).max(100)})))
            .await?;
    }
    ctx.call_any(creator, "PUT", "/v1/presence", Some(json!({"status": "online"}))).await?;
    let balance_before = if price > 0 { Some(balance(ctx, fan).await?) } else { None };

    let request =
        ctx.call_any(fan, "POST", "/v1/private-requests", Some(json!({"creator_id": creator.session.user_id}))).await?;
    let request_id = request["id"].as_str().unwrap_or_default().to_string();
    creator.ws.expect("private.request").await?;
    let accept_sent = Instant::now();
    let accepted = ctx.call_any(creator, "POST", &format!("/v1/private-requests/{request_id}/accept"), None).await?;
    let accept_done = Instant::now();
    let room = accepted["room"]["id"].as_str().context("accepted without a room")?.to_string();
    fan.ws.expect("private.accepted").await?;
    creator.ws.request(json!({"type": "join", "room_id": room})).await?;
    fan.ws.request(json!({"type": "join", "room_id": room})).await?;
    ctx.rec.gauge_add("sessions", 1);
    let held = hold(ctx, i, creator, fan, &room, hold_until).await;
    ctx.rec.gauge_add("sessions", -1);
    if let Some(reason) = held? {
        return Ok(Outcome::Ended(reason));
    }
    let end_sent = Instant::now();
    ctx.call_any(creator, "POST", &format!("/v1/rooms/{room}/end"), None).await?;
    let end_done = Instant::now();
    if let (Some(before), true) = (balance_before, price > 0) {
        // Minute k is charged when it starts, so the session owes one per started minute: at
        // least those within what the server surely saw, at most those within what it may have.
        let started = |d: Duration| (d.as_secs_f64() / 60.0).ceil().max(1.0) as i64;
        let (low, high) = (started(end_sent - accept_done), started(end_done - accept_sent));
        let give_up = Instant::now() + Duration::from_secs(30);
        let charged = loop {
            let charged = (before - balance(ctx, fan).await?) / price;
            if charged >= low || Instant::now() >= give_up {
                break charged;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        ctx.rec.count("minutes_checked_sessions", 1);
        ctx.rec.count("minutes_charged", charged.max(0) as u64);
        if charged < low {
            ctx.rec.count("minutes_skipped", (low - charged) as u64);
        }
        if charged > high {
            ctx.rec.count("minutes_doubled", (charged - high) as u64);
        }
    }
    Ok(Outcome::Completed)
}

async fn balance(ctx: &Ctx, side: &mut Side) -> anyhow::Result<i64> {
    let w = ctx.call_any(side, "GET", "/v1/wallet", None).await?;
    w["balance"].as_i64().context("wallet without a balance")
}

/// Offer/answer, then heartbeats and chat until `hold_until`; `Some(reason)` if the server
/// ended the room first.
async fn hold(
    ctx: &Ctx,
    i: usize,
    creator: &mut Side,
    fan: &mut Side,
    room: &str,
    hold_until: Instant,
) -> anyhow::Result<Option<String>> {
    fan.ws
        .request(json!({"type": "offer", "to": creator.session.user_id, "sdp": super::private::fake_sdp("offer")}))
        .await?;
    creator.ws.expect("offer").await?;
    creator
        .ws
        .request(json!({"type": "answer", "to": fan.session.user_id, "sdp": super::private::fake_sdp("answer")}))
        .await?;
    fan.ws.expect("answer").await?;

    let hb = Duration::from_secs(ctx.args.heartbeat_secs.max(1));
    let chat_every = Duration::from_secs(ctx.args.chat_secs.max(1));
    let (mut next_hb, mut next_chat) = (Instant::now(), Instant::now() + chat_every);
    let mut n = 0u64;
    loop {
        let next = next_hb.min(next_chat);
        if next >= hold_until {
            tokio::time::sleep_until(hold_until.into()).await;
            return Ok(creator.ws.drain_for_end().or(fan.ws.drain_for_end()));
        }
        tokio::time::sleep_until(next.into()).await;
        if let Some(reason) = creator.ws.drain_for_end().or(fan.ws.drain_for_end()) {
            return Ok(Some(reason));
        }
        if Instant::now() >= next_hb {
            for side in [&mut *creator, &mut *fan] {
                if let Some(reason) = ctx.heartbeat(side, room).await? {
                    return Ok(Some(reason));
                }
            }
            next_hb += hb;
        }
        if ctx.args.chat_secs > 0 && Instant::now() >= next_chat {
            next_chat += chat_every;
            n += 1;
            let text = format!("chaos {i}/{n}");
            if fan.ws.is_closed() {
                if let Some(reason) = ctx.recover(fan, room).await? {
                    return Ok(Some(reason));
                }
            }
            if fan.ws.request(json!({"type": "chat", "text": text})).await.is_err() {
                continue; // refused or not sent: the sender knows, nothing was lost
            }
            let mut got = creator.ws.expect_chat(&text, Duration::from_secs(10)).await;
            if got.is_err() && creator.ws.is_closed() {
                // A resume replays what the dropped socket missed.
                if let Some(reason) = ctx.recover(creator, room).await? {
                    return Ok(Some(reason));
                }
                got = creator.ws.expect_chat(&text, Duration::from_secs(10)).await;
            }
            match got {
                Ok(Some(reason)) => return Ok(Some(reason)),
                Ok(None) => ctx.rec.count("chat_delivered", 1),
                Err(_) => ctx.chaos_count("messages_lost"),
            }
        }
    }
}
