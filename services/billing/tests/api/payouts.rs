use crate::helpers::{code_of, ClockExt, TestApp};
use chrono::Duration;
use serde_json::{json, Value};
use tandem_shared::ids::Role;

#[tokio::test]
async fn pricing_is_bounded_and_only_for_creators() {
    let app = TestApp::spawn().await;
    let (creator, creator_token) = app.user(Role::Creator).await;
    let (_, fan_token) = app.user(Role::Fan).await;
    let put = |token: &str, price: i64| {
        app.http
            .put(app.url("/v1/creator/pricing"))
            .bearer_auth(token.to_string())
            .json(&json!({"price_per_minute": price}))
            .send()
    };
    assert_eq!(code_of(put(&creator_token, 10_001).await.unwrap()).await, (400, "invalid_input".into()));
    assert_eq!(code_of(put(&creator_token, -1).await.unwrap()).await, (400, "invalid_input".into()));
    assert_eq!(code_of(put(&fan_token, 100).await.unwrap()).await, (403, "forbidden".into()));
    assert_eq!(put(&creator_token, 250).await.unwrap().status(), 200);
    let price = app.get(&format!("/v1/creators/{creator}/pricing"), &fan_token).await;
    assert_eq!(price["price_per_minute"], 250);
    assert_eq!(price["currency"], "usd");
}

#[tokio::test]
async fn payouts_wait_out_the_holding_period_and_need_an_operator() {
    let app = TestApp::spawn().await;
    let (_, fan) = app.user(Role::Fan).await;
    let (creator, creator_token) = app.user(Role::Creator).await;
    let (_, operator) = app.user(Role::Operator).await;
    let room = app.room("broadcast", creator, None, app.clock.now_ts()).await;
    app.dev_top_up(&fan, 1_000).await;
    assert_eq!(app.post("/v1/tips", &fan, json!({"room_id": room, "amount": 1_000})).await.status(), 201);

    let res = app.post("/v1/creator/payouts", &creator_token, json!({"amount": 900})).await;
    assert_eq!(code_of(res).await, (409, "insufficient_earnings".into()));
    let res = app.post("/v1/creator/payouts", &creator_token, json!({"amount": 500})).await;
    assert_eq!(res.status(), 201);
    let payout: Value = res.json().await.unwrap();
    let res = app.post("/v1/creator/payouts", &creator_token, json!({"amount": 400})).await;
    assert_eq!(code_of(res).await, (409, "insufficient_earnings".into()));
    let earnings = app.get("/v1/creator/earnings", &creator_token).await;
    assert_eq!((earnings["balance"].as_i64(), earnings["available"].as_i64()), (Some(800), Some(300)));

    let execute = format!("/v1/admin/payouts/{}/execute", payout["payout_id"].as_str().unwrap());
    assert_eq!(code_of(app.post(&execute, &creator_token, json!({})).await).await, (403, "forbidden".into()));
    assert_eq!(code_of(app.post(&execute, &operator, json!({})).await).await, (409, "payout_on_hold".into()));
    let open = app.get("/v1/admin/payouts", &operator).await;
    assert_eq!(open["payouts"].as_array().unwrap().len(), 1);

    app.clock.advance(Duration::days(7) + Duration::seconds(1));
    let res = app.post(&execute, &operator, json!({})).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "paid");
    let res = app.post(&execute, &operator, json!({})).await;
    assert_eq!(res.status(), 200, "executing twice is a no-op");
    let earnings = app.get("/v1/creator/earnings", &creator_token).await;
    assert_eq!((earnings["balance"].as_i64(), earnings["pending_payouts"].as_i64()), (Some(300), Some(0)));

    let check = app.get("/v1/admin/ledger-check", &operator).await;
    assert_eq!(check["ok"], true, "{check}");
    app.assert_ledger_ok().await;
}
