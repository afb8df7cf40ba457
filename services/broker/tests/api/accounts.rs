//! What an account must have done before the broker lets it act: a verified email to go live
//! or take part in a private session; a second factor for operator powers.

use crate::helpers::{code_of, TestApp, User};
use serde_json::json;
use tandem_shared::ids::Role;
use tandem_shared::jwt::Grants;

/// `user` with an access token saying `grants` instead.
fn with(app: &TestApp, user: &User, role: Role, grants: Grants) -> User {
    let (token, _) = app.t.core.tokens.issue_with(user.id, role, grants).unwrap();
    User { id: user.id, token, handle: user.handle.clone() }
}

const UNVERIFIED: Grants = Grants { family: None, mfa: false, email_verified: false };

#[tokio::test]
async fn an_unverified_creator_cannot_go_live_nor_accept_and_an_unverified_fan_cannot_ask() {
    let app = TestApp::spawn().await;
    let creator = app.creator_online().await;
    let unverified_creator = with(&app, &creator, Role::Creator, UNVERIFIED);
    let res = app.post(&unverified_creator, "/v1/rooms", json!({"title": "hello"})).await;
    assert_eq!(code_of(res).await, (403, "email_unverified".into()));

    let fan = app.user(Role::Fan).await;
    let unverified_fan = with(&app, &fan, Role::Fan, UNVERIFIED);
    assert_eq!(code_of(app.request(&unverified_fan, &creator).await).await, (403, "email_unverified".into()));
    let id = app.request_id(&fan, &creator).await;
    let res = app.post(&unverified_creator, &format!("/v1/private-requests/{id}/accept"), json!({})).await;
    assert_eq!(code_of(res).await, (403, "email_unverified".into()));
    // Verified (the usual test tokens), the same calls go through.
    let res = app.post(&creator, &format!("/v1/private-requests/{id}/accept"), json!({})).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn an_operator_without_a_second_factor_has_no_operator_powers() {
    let app = TestApp::spawn().await;
    let op = app.user(Role::Operator).await;
    let single = with(&app, &op, Role::Operator, Grants { family: None, mfa: false, email_verified: true });
    let res = app.get(&single, "/v1/reports/artists").await;
    assert_eq!(code_of(res).await, (403, "second_factor_required".into()));
    assert_eq!(app.get(&op, "/v1/reports/artists").await.status(), 200);

    // Moderating someone else's room is an operator power too.
    let creator = app.user(Role::Creator).await;
    let fan = app.user(Role::Fan).await;
    let room = app.open_room(&creator).await;
    let path = format!("/v1/rooms/{}/moderation", room["id"].as_str().unwrap());
    let body = json!({"user_id": fan.id, "action": "mute", "reason": "spam", "minutes": 5});
    let res = app.post(&single, &path, body.clone()).await;
    assert_eq!(code_of(res).await, (403, "second_factor_required".into()));
    assert_eq!(app.post(&op, &path, body).await.status(), 204);
}
