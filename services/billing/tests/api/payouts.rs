use crate::helpers::{code_of, ClockExt, TestApp};
use crate::stripe_standin::{StripeStandIn, TransferFailure};
use chrono::Duration;
use serde_json::{json, Value};
use tandem_shared::ids::{Role, UserId};

const ACCOUNT: &str = "acct_1TandemCreator01";

impl TestApp {
    async fn put(&self, path: &str, token: &str, body: Value) -> reqwest::Response {
        self.http.put(self.url(path)).bearer_auth(token).json(&body).send().await.expect("request sent")
    }

    async fn set_payout_account(&self, creator: UserId, operator: &str, account: &str) -> reqwest::Response {
        self.put(
            &format!("/v1/admin/creators/{creator}/payout-account"),
            operator,
            json!({"stripe_account_id": account}),
        )
        .await
    }

    /// A creator with 800 of earnings (a 1000 tip at 80 %), a payout request of `amount` past its
    /// holding period, and an operator. Returns (creator, creator token, operator token, execute path, payout id).
    async fn payout_ready(&self, amount: i64) -> (UserId, String, String, String, String) {
        let (_, fan) = self.user(Role::Fan).await;
        let (creator, creator_token) = self.user(Role::Creator).await;
        let (_, operator) = self.user(Role::Operator).await;
        let room = self.room("broadcast", creator, None, self.clock.now_ts()).await;
        self.dev_top_up(&fan, 1_000).await;
        assert_eq!(self.post("/v1/tips", &fan, json!({"room_id": room, "amount": 1_000})).await.status(), 201);
        let res = self.post("/v1/creator/payouts", &creator_token, json!({"amount": amount})).await;
        assert_eq!(res.status(), 201);
        let id = res.json::<Value>().await.unwrap()["payout_id"].as_str().unwrap().to_string();
        self.clock.advance(Duration::days(7) + Duration::seconds(1));
        (creator, creator_token, operator, format!("/v1/admin/payouts/{id}/execute"), id)
    }
}

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
    let stripe = StripeStandIn::start();
    let app = TestApp::spawn_with(Some(&stripe.base_url)).await;
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
    assert_eq!(app.set_payout_account(creator, &operator, ACCOUNT).await.status(), 200);
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

#[tokio::test]
async fn execution_transfers_through_stripe_connect_once_and_retries_after_a_failure() {
    let stripe = StripeStandIn::start();
    let app = TestApp::spawn_with(Some(&stripe.base_url)).await;
    let (creator, creator_token, operator, execute, payout_id) = app.payout_ready(500).await;

    // No connected account yet: refused before anything is sent to Stripe.
    assert_eq!(code_of(app.post(&execute, &operator, json!({})).await).await, (409, "no_payout_account".into()));
    assert!(stripe.transfer_requests().is_empty());

    // Setting the account: operators only, `acct_` ids only, creators only.
    let res = app.set_payout_account(creator, &creator_token, ACCOUNT).await;
    assert_eq!(code_of(res).await, (403, "forbidden".into()));
    for bad in ["", "acct_", "acct_12-34", "ba_123", "acct_1 2"] {
        let res = app.set_payout_account(creator, &operator, bad).await;
        assert_eq!(code_of(res).await, (400, "invalid_input".into()), "{bad:?}");
    }
    let res = app.set_payout_account(UserId::new(), &operator, ACCOUNT).await;
    assert_eq!(code_of(res).await, (404, "not_found".into()));
    assert_eq!(app.set_payout_account(creator, &operator, "acct_old0000").await.status(), 200);
    let res = app.set_payout_account(creator, &operator, ACCOUNT).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["stripe_account_id"], ACCOUNT);

    // Stripe fails: the payout stays requested with the error, nothing is posted.
    stripe.fail_next_transfer(TransferFailure::Before);
    let res = app.post(&execute, &operator, json!({})).await;
    assert_eq!(code_of(res).await, (502, "payment_provider_error".into()));
    let open = app.get("/v1/admin/payouts", &operator).await;
    let pending = &open["payouts"][0];
    assert_eq!((pending["status"].as_str(), pending["attempts"].as_i64()), (Some("requested"), Some(1)));
    assert!(pending["last_error"].as_str().unwrap().contains("500"), "{pending}");
    assert_eq!(pending["stripe_transfer_id"], Value::Null);
    assert_eq!(app.get("/v1/creator/earnings", &creator_token).await["balance"], 800);
    assert!(stripe.transfers().is_empty());
    app.assert_ledger_ok().await;

    // The retry goes through: one transfer with the right parameters, then the ledger.
    let res = app.post(&execute, &operator, json!({})).await;
    assert_eq!(res.status(), 200);
    let paid: Value = res.json().await.unwrap();
    let transfers = stripe.transfers();
    assert_eq!(transfers.len(), 1, "exactly one transfer");
    let (key, transfer) = &transfers[0];
    assert_eq!(key, &format!("tandem-payout-{payout_id}"));
    assert_eq!(transfer["destination"], ACCOUNT);
    assert_eq!(transfer["amount"], 500);
    assert_eq!(transfer["currency"], "usd");
    assert_eq!(transfer["metadata"]["payout_id"], payout_id.as_str());
    assert_eq!(transfer["metadata"]["user_id"], creator.to_string());
    assert_eq!(paid["status"], "paid");
    assert_eq!(paid["stripe_transfer_id"], transfer["id"]);
    assert_eq!((paid["attempts"].as_i64(), &paid["last_error"]), (Some(2), &Value::Null));
    let requests = stripe.transfer_requests();
    assert_eq!(requests.len(), 2);
    assert!(requests.iter().all(|r| r.get("idempotency_key") == Some(key)), "same key on every attempt");

    // Executing again answers the paid payout without calling Stripe.
    let res = app.post(&execute, &operator, json!({})).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["stripe_transfer_id"], transfer["id"]);
    assert_eq!(stripe.transfer_requests().len(), 2);
    let earnings = app.get("/v1/creator/earnings", &creator_token).await;
    assert_eq!((earnings["balance"].as_i64(), earnings["pending_payouts"].as_i64()), (Some(300), Some(0)));
    let legs: Vec<(String, i64)> = sqlx::query_as(
        "select a.kind, e.amount from ledger_entries e
         join ledger_transactions t on t.transaction_id = e.transaction_id
         join ledger_accounts a on a.account_id = e.account_id
         where t.idempotency_key = $1 order by e.amount",
    )
    .bind(format!("payout:{payout_id}"))
    .fetch_all(app.db())
    .await
    .unwrap();
    assert_eq!(legs, vec![("earnings".to_string(), -500), ("stripe_clearing".to_string(), 500)]);
    app.assert_ledger_ok().await;
}

#[tokio::test]
async fn a_lost_stripe_answer_is_retried_under_the_same_key_without_a_second_transfer() {
    let stripe = StripeStandIn::start();
    let app = TestApp::spawn_with(Some(&stripe.base_url)).await;
    let (creator, creator_token, operator, execute, _) = app.payout_ready(800).await;
    assert_eq!(app.set_payout_account(creator, &operator, ACCOUNT).await.status(), 200);

    stripe.fail_next_transfer(TransferFailure::AfterCreate);
    assert_eq!(code_of(app.post(&execute, &operator, json!({})).await).await, (502, "payment_provider_error".into()));
    assert_eq!(stripe.transfers().len(), 1, "Stripe made the transfer, billing did not hear back");
    assert_eq!(app.get("/v1/creator/earnings", &creator_token).await["balance"], 800);

    let res = app.post(&execute, &operator, json!({})).await;
    assert_eq!(res.status(), 200);
    let paid: Value = res.json().await.unwrap();
    assert_eq!(stripe.transfers().len(), 1, "the retry replayed the first transfer");
    assert_eq!(paid["stripe_transfer_id"], stripe.transfers()[0].1["id"]);
    assert_eq!(app.get("/v1/creator/earnings", &creator_token).await["balance"], 0);
    app.assert_ledger_ok().await;
}

#[tokio::test]
async fn concurrent_executions_transfer_once() {
    let stripe = StripeStandIn::start();
    let app = TestApp::spawn_with(Some(&stripe.base_url)).await;
    let (creator, creator_token, operator, execute, _) = app.payout_ready(600).await;
    assert_eq!(app.set_payout_account(creator, &operator, ACCOUNT).await.status(), 200);

    let runs = (0..8).map(|_| app.post(&execute, &operator, json!({})));
    let results = futures_util::future::join_all(runs).await;
    let mut ids = Vec::new();
    for res in results {
        assert_eq!(res.status(), 200);
        ids.push(res.json::<Value>().await.unwrap()["stripe_transfer_id"].clone());
    }
    assert_eq!(stripe.transfer_requests().len(), 1, "the row lock let one execution reach Stripe");
    assert_eq!(stripe.transfers().len(), 1);
    assert!(ids.iter().all(|id| *id == stripe.transfers()[0].1["id"]));
    assert_eq!(app.get("/v1/creator/earnings", &creator_token).await["balance"], 200);
    app.assert_ledger_ok().await;
}

#[tokio::test]
async fn execution_without_a_stripe_key_is_not_configured() {
    let app = TestApp::spawn().await;
    let (creator, _, operator, execute, _) = app.payout_ready(500).await;
    assert_eq!(app.set_payout_account(creator, &operator, ACCOUNT).await.status(), 200);
    assert_eq!(code_of(app.post(&execute, &operator, json!({})).await).await, (503, "not_configured".into()));
    let open = app.get("/v1/admin/payouts", &operator).await;
    assert_eq!(open["payouts"][0]["status"], "requested");
    app.assert_ledger_ok().await;
}
