//! Sign-in under load: every answer comes within the client's patience, whatever the queue.

use crate::helpers::{TestApp, PASSWORD};
use serde_json::json;
use std::time::{Duration, Instant};
use tandem_shared::ids::UserId;

#[tokio::test]
async fn two_hundred_concurrent_sign_ins_all_answer_within_two_seconds() {
    let app = TestApp::spawn().await;
    // 200 accounts sharing one password hash (hashing 200 passwords first would take a while).
    let hasher = tandem_auth::password::Hasher::standard().unwrap();
    let phc = hasher.hash(PASSWORD.into()).await.unwrap();
    for i in 0..200 {
        sqlx::query(
            "insert into users (user_id, email, handle, role, password_hash, email_verified_at) values ($1, $2, $3, 'fan', $4, now())",
        )
        .bind(UserId::new())
        .bind(format!("load{i}@example.com"))
        .bind(format!("load{i}"))
        .bind(&phc)
        .execute(&app.t.core.db)
        .await
        .unwrap();
    }
    let http = reqwest::Client::builder().pool_max_idle_per_host(256).timeout(Duration::from_secs(10)).build().unwrap();
    let started = Instant::now();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let http = http.clone();
            let url = app.url("/v1/auth/login");
            // A few wrong passwords among them.
            let password = if i % 10 == 0 { "not the password!" } else { PASSWORD };
            tokio::spawn(async move {
                let t0 = Instant::now();
                let res = http
                    .post(url)
                    .json(&json!({"email": format!("load{i}@example.com"), "password": password}))
                    .send()
                    .await;
                let elapsed = t0.elapsed();
                match res {
                    Ok(r) => (r.status().as_u16(), r.headers().get("retry-after").is_some(), elapsed),
                    Err(e) => panic!("sign-in {i} failed without an answer after {elapsed:?}: {e}"),
                }
            })
        })
        .collect();
    let mut by_status = std::collections::BTreeMap::new();
    for t in tasks {
        let (status, retry_after, elapsed) = t.await.unwrap();
        assert!(elapsed < Duration::from_secs(2), "an answer ({status}) took {elapsed:?}");
        assert!(matches!(status, 200 | 401 | 503), "unexpected status {status}");
        if status == 503 {
            assert!(retry_after, "a 503 carries Retry-After");
        }
        *by_status.entry(status).or_insert(0) += 1;
    }
    eprintln!("200 sign-ins in {:?}: {by_status:?}", started.elapsed());
    assert!(by_status.get(&200).copied().unwrap_or(0) > 0, "some sign-ins succeed: {by_status:?}");
}

#[tokio::test]
async fn a_sign_in_shed_before_its_password_was_checked_does_not_count_against_the_throttle() {
    use tandem_auth::throttle::{self, Reservation, MAX_ATTEMPTS};
    let app = TestApp::spawn().await;
    let redis = &app.t.core.redis;
    let (email, client) = ("shed@example.com", "192.0.2.7");
    // Overload sheds many sign-ins of one account in a row: each reserved a slot and gave it back.
    for _ in 0..3 * MAX_ATTEMPTS {
        assert!(matches!(throttle::reserve(redis, email, client).await.unwrap(), Reservation::Granted));
        throttle::release(redis, email, client).await.unwrap();
    }
    // Checked attempts still count: the budget is whole, then spent.
    for _ in 0..MAX_ATTEMPTS {
        assert!(matches!(throttle::reserve(redis, email, client).await.unwrap(), Reservation::Granted));
    }
    assert!(matches!(throttle::reserve(redis, email, client).await.unwrap(), Reservation::Refused { .. }));
    // Giving back never goes below zero.
    throttle::reset(redis, email, client).await.unwrap();
    throttle::release(redis, email, client).await.unwrap();
    for _ in 0..MAX_ATTEMPTS {
        assert!(matches!(throttle::reserve(redis, email, client).await.unwrap(), Reservation::Granted));
    }
    assert!(matches!(throttle::reserve(redis, email, client).await.unwrap(), Reservation::Refused { .. }));
}
