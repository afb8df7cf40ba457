//! What an account must have done before money moves: a verified email to top up, tip or be
//! paid; two-factor sign-in to request a payout or use operator routes.

use crate::helpers::{code_of, TestApp};
use serde_json::json;
use tandem_shared::ids::{Role, UserId};
use tandem_shared::jwt::Grants;

fn token(app: &TestApp, user: UserId, role: Role, mfa: bool, email_verified: bool) -> String {
    app.t.core.tokens.issue_with(user, role, Grants { family: None, mfa, email_verified }).unwrap().0
}

#[tokio::test]
async fn unverified_accounts_cannot_top_up_tip_or_be_paid() {
    let app = TestApp::spawn().await;
    let (fan, _) = app.user(Role::Fan).await;
    let unverified = token(&app, fan, Role::Fan, false, false);
    let res = app.post("/v1/dev/wallet/top-ups", &unverified, json!({"amount": 500})).await;
    assert_eq!(code_of(res).await, (403, "email_unverified".into()));
    let res = app.post("/v1/wallet/top-ups", &unverified, json!({"amount": 500})).await;
    assert_eq!(code_of(res).await, (403, "email_unverified".into()));
    let (creator, _) = app.user(Role::Creator).await;
    let room = app.room("broadcast", creator, None, chrono::Utc::now()).await;
    let res = app.post("/v1/tips", &unverified, json!({"room_id": room, "amount": 100})).await;
    assert_eq!(code_of(res).await, (403, "email_unverified".into()));
    let res = app
        .post("/v1/creator/payouts", &token(&app, creator, Role::Creator, true, false), json!({"amount": 1000}))
        .await;
    assert_eq!(code_of(res).await, (403, "email_unverified".into()));
}

#[tokio::test]
async fn payouts_and_operator_routes_need_two_factor_sign_in() {
    let app = TestApp::spawn().await;
    let (creator, _) = app.user(Role::Creator).await;
    let res = app
        .post("/v1/creator/payouts", &token(&app, creator, Role::Creator, false, true), json!({"amount": 1000}))
        .await;
    assert_eq!(code_of(res).await, (403, "second_factor_required".into()));
    let (op, op_token) = app.user(Role::Operator).await;
    let single = token(&app, op, Role::Operator, false, true);
    let res = app.http.get(app.url("/v1/admin/payouts")).bearer_auth(&single).send().await.unwrap();
    assert_eq!(code_of(res).await, (403, "second_factor_required".into()));
    let res = app.http.get(app.url("/v1/admin/payouts")).bearer_auth(&op_token).send().await.unwrap();
    assert_eq!(res.status(), 200);
}
