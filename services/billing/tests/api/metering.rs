use crate::helpers::{ClockExt, TestApp};
use crate::tips::{next_event, subscribe};
use chrono::Duration;
use serde_json::json;
use tandem_shared::events::user_channel;
use tandem_shared::hooks::PaymentRefusal;
use tandem_shared::ids::{Role, RoomId};

async fn minute_keys(app: &TestApp, room: RoomId) -> Vec<String> {
    sqlx::query_scalar(
        "select idempotency_key from ledger_transactions where room_id = $1 and kind = 'private_minute' order by created_at",
    )
    .bind(room)
    .fetch_all(app.db())
    .await
    .unwrap()
}

async fn set_price(app: &TestApp, token: &str, price: i64) {
    let res = app
        .http
        .put(app.url("/v1/creator/pricing"))
        .bearer_auth(token)
        .json(&json!({"price_per_minute": price}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn two_meters_and_a_restart_charge_each_started_minute_exactly_once() {
    let app = TestApp::spawn().await;
    let (fan, fan_token) = app.user(Role::Fan).await;
    let (creator, creator_token) = app.user(Role::Creator).await;
    set_price(&app, &creator_token, 100).await;
    app.dev_top_up(&fan_token, 1_000).await;
    let gate = app.t.core.hooks.payment().expect("billing installs the payment gate");

    let quote = gate.quote_private(fan, creator).await.expect("fan covers a minute").expect("paid creator");
    assert_eq!((quote.price_per_minute, quote.currency), (100, "usd"));
    let room = app.room("private", creator, Some(fan), app.clock.now_ts()).await;
    gate.start_private(room, fan, creator, app.started(room), 100).await.expect("first minute charged");
    gate.start_private(room, fan, creator, app.started(room), 100).await.expect("a repeated start is a no-op");
    assert_eq!(app.balance(&fan_token).await, 900);

    let (_node_b, mut meter_b) = app.node().await;
    let meter_a = app.billing.clone();
    // Minute k starts at k*60 s; step through times around the boundaries.
    let schedule = [30, 30, 59, 1, 90, 0, 150];
    let mut elapsed = 0;
    let mut charged_before = 1;
    for (step, secs) in schedule.iter().enumerate() {
        app.clock.advance(Duration::seconds(*secs));
        elapsed += secs;
        if step == 3 {
            // Meter B restarts mid-session: a fresh instance on a fresh connection pool.
            drop(meter_b);
            meter_b = app.node().await.1;
        }
        let (a, b) = tokio::join!(meter_a.meter_tick(), meter_b.meter_tick());
        let (a, b) = (a.unwrap(), b.unwrap());
        let again = meter_a.meter_tick().await.unwrap();
        assert_eq!(again.charged, 0, "nothing left to charge at {elapsed}s");
        let expected = elapsed / 60 + 1;
        let keys = minute_keys(&app, room).await;
        assert_eq!(keys.len() as i64, expected, "after {elapsed}s (ticks {a:?} {b:?})");
        assert_eq!(a.charged + b.charged, expected - charged_before, "each minute charged by exactly one meter");
        charged_before = expected;
    }
    // elapsed = 360 s: minutes 0..=6 started.
    let keys = minute_keys(&app, room).await;
    let expected: Vec<String> = (0..7).map(|k| format!("private:{room}:{k}")).collect();
    assert_eq!(keys, expected);
    assert_eq!(app.balance(&fan_token).await, 300);

    // The creator hangs up 10 s later: nothing more is charged, even when time moves on.
    app.clock.advance(Duration::seconds(10));
    let rooms = app.t.core.hooks.rooms().unwrap();
    assert!(rooms.end_room(room, "host_ended").await.unwrap());
    app.clock.advance(Duration::seconds(120));
    meter_a.meter_tick().await.unwrap();
    meter_b.meter_tick().await.unwrap();
    assert_eq!(minute_keys(&app, room).await.len(), 7);
    let closed: bool = sqlx::query_scalar("select ended_at is not null from private_sessions where room_id = $1")
        .bind(room)
        .fetch_one(app.db())
        .await
        .unwrap();
    assert!(closed);

    let earnings = app.get("/v1/creator/earnings", &creator_token).await;
    assert_eq!(earnings["balance"], 560);
    assert_eq!(earnings["by_room"][0]["private_minutes"], 7);
    assert_eq!(earnings["by_room"][0]["gross"], 700);
    assert_eq!(earnings["by_day"][0]["earned"], 560);
    app.assert_ledger_ok().await;
}

#[tokio::test]
async fn funds_exhaustion_warns_then_ends_the_room() {
    let app = TestApp::spawn().await;
    let (fan, fan_token) = app.user(Role::Fan).await;
    let (creator, creator_token) = app.user(Role::Creator).await;
    set_price(&app, &creator_token, 100).await;
    app.dev_top_up(&fan_token, 250).await;
    let mut fan_events = subscribe(user_channel(&app.t.core.redis, fan)).await;
    let gate = app.t.core.hooks.payment().unwrap();
    let room = app.room("private", creator, Some(fan), app.clock.now_ts()).await;
    gate.start_private(room, fan, creator, app.started(room), 100).await.unwrap();

    // 150 left at price 100: one minute of credit left.
    let warning = next_event(&mut fan_events).await;
    assert_eq!(warning["event"], "billing.low_balance");
    assert_eq!(warning["data"]["minutes_left"], 1);
    assert_eq!(warning["data"]["room_id"], room.to_string());

    app.clock.advance(Duration::seconds(60));
    let tick = app.billing.meter_tick().await.unwrap();
    assert_eq!((tick.charged, tick.ended), (1, 0));
    assert!(app.rooms.calls().is_empty());

    app.clock.advance(Duration::seconds(60));
    let tick = app.billing.meter_tick().await.unwrap();
    assert_eq!((tick.charged, tick.ended), (0, 1));
    assert_eq!(app.rooms.calls(), vec![(room, "funds_exhausted".to_string())]);
    assert!(!app.rooms.stand_in.get(room).unwrap().live, "the broker ended the room");
    assert_eq!(app.balance(&fan_token).await, 50);
    assert_eq!(minute_keys(&app, room).await.len(), 2);

    // Nothing more happens afterwards.
    app.clock.advance(Duration::seconds(300));
    let tick = app.billing.meter_tick().await.unwrap();
    assert_eq!((tick.charged, tick.ended), (0, 0));
    assert_eq!(app.rooms.calls().len(), 1);
    app.assert_ledger_ok().await;
}

#[tokio::test]
async fn a_fan_who_cannot_cover_the_first_minute_is_refused_up_front() {
    let app = TestApp::spawn().await;
    let (fan, fan_token) = app.user(Role::Fan).await;
    let (creator, creator_token) = app.user(Role::Creator).await;
    let gate = app.t.core.hooks.payment().unwrap();
    // A free creator: no quote, nothing charged.
    assert!(gate.quote_private(fan, creator).await.unwrap().is_none());

    set_price(&app, &creator_token, 300).await;
    app.dev_top_up(&fan_token, 200).await;
    match gate.quote_private(fan, creator).await {
        Err(PaymentRefusal::InsufficientFunds { needed: 300, available: 200 }) => {}
        other => panic!("expected insufficient funds, got {other:?}"),
    }
    let room = app.room("private", creator, Some(fan), app.clock.now_ts()).await;
    assert!(matches!(
        gate.start_private(room, fan, creator, app.started(room), 300).await,
        Err(PaymentRefusal::InsufficientFunds { .. })
    ));
    assert_eq!(app.balance(&fan_token).await, 200);
    gate.end_private(room).await.unwrap();
    app.assert_ledger_ok().await;
}

#[tokio::test]
async fn a_room_whose_end_billing_missed_is_settled_to_its_real_end() {
    let app = TestApp::spawn().await;
    let (fan, fan_token) = app.user(Role::Fan).await;
    let (creator, creator_token) = app.user(Role::Creator).await;
    set_price(&app, &creator_token, 100).await;
    app.dev_top_up(&fan_token, 1_000).await;
    let gate = app.t.core.hooks.payment().unwrap();
    let room = app.room("private", creator, Some(fan), app.clock.now_ts()).await;
    gate.start_private(room, fan, creator, app.started(room), 100).await.unwrap();
    // The broker ends the room but its end_private never reaches billing.
    assert!(app.rooms.stand_in.end(room));
    app.clock.advance(Duration::seconds(61));
    let tick = app.billing.meter_tick().await.unwrap();
    assert_eq!((tick.settled, tick.charged), (1, 0), "no minute is charged after the real end");
    assert_eq!(minute_keys(&app, room).await.len(), 1);
    let closed: bool = sqlx::query_scalar("select ended_at is not null from private_sessions where room_id = $1")
        .bind(room)
        .fetch_one(app.db())
        .await
        .unwrap();
    assert!(closed, "the session is closed");
    assert_eq!(app.balance(&fan_token).await, 900);
    app.assert_ledger_ok().await;
}

#[tokio::test]
async fn a_settlement_that_cannot_reach_the_broker_charges_nothing_and_is_retried() {
    let app = TestApp::spawn().await;
    let (fan, fan_token) = app.user(Role::Fan).await;
    let (creator, creator_token) = app.user(Role::Creator).await;
    set_price(&app, &creator_token, 100).await;
    app.dev_top_up(&fan_token, 1_000).await;
    let gate = app.t.core.hooks.payment().unwrap();
    let room = app.room("private", creator, Some(fan), app.clock.now_ts()).await;
    gate.start_private(room, fan, creator, app.started(room), 100).await.unwrap();
    app.clock.advance(Duration::seconds(61));
    app.rooms.stand_in.fail.store(true, std::sync::atomic::Ordering::SeqCst);
    let tick = app.billing.meter_tick().await.unwrap();
    assert_eq!(tick.charged, 0, "nothing is charged while the room's state is unknown");
    app.rooms.stand_in.fail.store(false, std::sync::atomic::Ordering::SeqCst);
    let tick = app.billing.meter_tick().await.unwrap();
    assert_eq!(tick.charged, 1, "the minute is charged once the broker answers");
    assert_eq!(app.balance(&fan_token).await, 800);
    app.assert_ledger_ok().await;
}

#[tokio::test]
async fn a_short_billing_minute_charges_each_of_its_minutes_and_schedules_the_next() {
    let app = TestApp::spawn_tuned(None, |s| s.billing_minute = std::time::Duration::from_secs(20)).await;
    let (fan, fan_token) = app.user(Role::Fan).await;
    let (creator, creator_token) = app.user(Role::Creator).await;
    set_price(&app, &creator_token, 100).await;
    app.dev_top_up(&fan_token, 1_000).await;
    let gate = app.t.core.hooks.payment().expect("billing installs the payment gate");
    let room = app.room("private", creator, Some(fan), app.clock.now_ts()).await;
    gate.start_private(room, fan, creator, app.started(room), 100).await.expect("first minute charged");
    app.clock.advance(Duration::seconds(45));
    app.billing.meter_tick().await.unwrap();
    assert_eq!(minute_keys(&app, room).await.len(), 3, "minutes 0, 1 (20 s) and 2 (40 s) started by 45 s");
    assert_eq!(app.balance(&fan_token).await, 700);
    let next: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("select next_minute_at from private_sessions where room_id = $1")
            .bind(room)
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!(next - app.started(room), Duration::seconds(60), "minute 3 starts at 60 s");
}
