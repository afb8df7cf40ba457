use crate::helpers::{code_of, TestApp, PASSWORD};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const NEW_PASSWORD: &str = "a brand new passphrase";

/// Ask for a reset of `email` and return the token of the link mailed for it: `nth` is how many
/// messages the address has then had, `seen` the reset tokens returned before (mail goes out in
/// the background, so messages may arrive out of order).
async fn reset_token(app: &TestApp, email: &str, nth: usize, seen: &mut Vec<String>) -> String {
    let res = app.post("/v1/auth/password-reset", json!({"email": email})).await;
    assert_eq!(res.status(), 202);
    let mail = app.smtp.wait_for(email, nth).await;
    let fresh: Vec<String> = mail
        .iter()
        .filter(|m| m.decoded().contains("/reset.html#token="))
        .map(|m| m.token("/reset.html"))
        .filter(|t| !seen.contains(t))
        .collect();
    assert_eq!(fresh.len(), 1, "one new reset link among {} messages", mail.len());
    seen.push(fresh[0].clone());
    fresh[0].clone()
}

#[tokio::test]
async fn unknown_addresses_get_the_same_answer_and_no_mail() {
    let app = TestApp::spawn().await;
    app.signed_up("ann@example.com", "ann").await;
    app.smtp.wait_for("ann@example.com", 1).await; // the verification link
    let mut answers = Vec::new();
    for email in ["ANN@example.com", "nobody@example.com"] {
        let started = Instant::now();
        let res = app.post("/v1/auth/password-reset", json!({"email": email})).await;
        let elapsed = started.elapsed();
        let status = res.status().as_u16();
        answers.push((status, res.text().await.unwrap()));
        assert!(elapsed < Duration::from_secs(2), "{email}: {elapsed:?}");
    }
    assert_eq!(answers[0], answers[1], "the same answer for a known and an unknown address");
    assert_eq!(answers[0].0, 202);
    let to_ann = app.smtp.wait_for("ann@example.com", 2).await;
    assert!(to_ann[1].decoded().contains("https://tandem.test/reset.html#token="));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(app.smtp.to("nobody@example.com").is_empty());
}

#[tokio::test]
async fn a_reset_sets_the_password_and_signs_out_every_session() {
    let app = TestApp::spawn().await;
    let first = app.signed_up("bob@example.com", "bob").await;
    let second: Value = app.login("bob@example.com", PASSWORD).await.json().await.unwrap();
    let token = reset_token(&app, "bob@example.com", 2, &mut Vec::new()).await;

    let res = app.post("/v1/auth/password-reset/confirm", json!({"token": token, "password": NEW_PASSWORD})).await;
    assert_eq!(res.status(), 204);
    for s in [&first, &second] {
        assert_eq!(code_of(app.refresh(s["refresh_token"].as_str().unwrap()).await).await.0, 401);
        assert_eq!(code_of(app.me(s["access_token"].as_str().unwrap()).await).await, (401, "invalid_token".into()));
    }
    assert_eq!(code_of(app.login("bob@example.com", PASSWORD).await).await, (401, "invalid_credentials".into()));
    let signed_in: Value = app.login("bob@example.com", NEW_PASSWORD).await.json().await.unwrap();
    // The link reached the address: it counts as verified.
    assert_eq!(signed_in["user"]["email_verified"], true);

    // Single use.
    let again = app.post("/v1/auth/password-reset/confirm", json!({"token": token, "password": PASSWORD})).await;
    assert_eq!(code_of(again).await, (400, "invalid_email_token".into()));
}

#[tokio::test]
async fn reset_tokens_expire_and_a_used_one_voids_the_others() {
    let app = TestApp::spawn().await;
    app.signed_up("cal@example.com", "cal").await;
    let mut seen = Vec::new();
    let older = reset_token(&app, "cal@example.com", 2, &mut seen).await;
    let newer = reset_token(&app, "cal@example.com", 3, &mut seen).await;
    let bad = app.post("/v1/auth/password-reset/confirm", json!({"token": newer, "password": "short"})).await;
    assert_eq!(code_of(bad).await, (400, "invalid_input".into()));
    let res = app.post("/v1/auth/password-reset/confirm", json!({"token": newer, "password": NEW_PASSWORD})).await;
    assert_eq!(res.status(), 204);
    let res = app.post("/v1/auth/password-reset/confirm", json!({"token": older, "password": NEW_PASSWORD})).await;
    assert_eq!(code_of(res).await, (400, "invalid_email_token".into()));

    let expiring = reset_token(&app, "cal@example.com", 4, &mut seen).await;
    let lifetime: f64 = sqlx::query_scalar(
        "select extract(epoch from max(expires_at - created_at))::float8 from email_tokens where purpose = 'password_reset'",
    )
    .fetch_one(&app.t.core.db)
    .await
    .unwrap();
    assert!((3590.0..=3610.0).contains(&lifetime), "a reset link lives an hour, not {lifetime} s");
    sqlx::query("update email_tokens set expires_at = now() - interval '1 second' where purpose = 'password_reset'")
        .execute(&app.t.core.db)
        .await
        .unwrap();
    let res = app.post("/v1/auth/password-reset/confirm", json!({"token": expiring, "password": PASSWORD})).await;
    assert_eq!(code_of(res).await, (400, "invalid_email_token".into()));
}
