use crate::helpers::{code_of, settings, TestApp, User};
use serde_json::{json, Value};
use std::sync::Arc;
use tandem_shared::events::BusEvent;
use tandem_shared::ids::Role;
use tandem_shared::rate_limit::{Class, ClassLimits, FailMode, Limit};
use tandem_shared::testing::TestCore;

/// A live showcase of `artist` in its workshop: (showcase path, room id).
async fn in_workshop(app: &TestApp, artist: &User) -> (String, String) {
    let starts = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let body = json!({"title": "Q&A", "starts_at": starts, "artists": [artist.id],
                      "segments": [{"kind": "performance", "minutes": 60}, {"kind": "workshop", "minutes": 30}]});
    let s: Value = app.post(artist, "/v1/showcases", body).await.json().await.unwrap();
    let path = format!("/v1/showcases/{}", s["id"].as_str().unwrap());
    let live: Value = app.post(artist, &format!("{path}/start"), json!({})).await.json().await.unwrap();
    let room = live["room_id"].as_str().unwrap().to_string();
    let fan = app.user(Role::Fan).await;
    let res = app.post(&fan, &format!("{path}/questions"), json!({"text": "too early?"})).await;
    assert_eq!(code_of(res).await, (409, "not_in_workshop".into()));
    let ws: Value = app.post(artist, &format!("{path}/next"), json!({})).await.json().await.unwrap();
    assert_eq!(ws["current_segment"]["kind"], "workshop");
    (path, room)
}

async fn ask(app: &TestApp, who: &User, path: &str, text: &str) -> String {
    let res = app.post(who, &format!("{path}/questions"), json!({"text": text})).await;
    assert_eq!(res.status(), 201);
    let q: Value = res.json().await.unwrap();
    assert_eq!(q["author_handle"], who.handle);
    q["id"].as_str().unwrap().to_string()
}

async fn queue(app: &TestApp, who: &User, path: &str) -> Vec<(String, i64, String, bool)> {
    let res = app.get(who, &format!("{path}/questions")).await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    v["questions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| {
            (
                q["text"].as_str().unwrap().to_string(),
                q["votes"].as_i64().unwrap(),
                q["status"].as_str().unwrap().to_string(),
                q["voted"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_queue_is_ordered_by_votes_with_one_vote_per_user_and_the_host_moderates() {
    let app = TestApp::spawn().await;
    let events = app.events().await;
    let artist = app.user(Role::Creator).await;
    let (path, room) = in_workshop(&app, &artist).await;
    let (ana, ben, cy) = (app.user(Role::Fan).await, app.user(Role::Fan).await, app.user(Role::Fan).await);
    let q1 = ask(&app, &ana, &path, "How do you tune?").await;
    let q2 = ask(&app, &ben, &path, "Which DAW?").await;
    let q3 = ask(&app, &cy, &path, "Favourite pedal?").await;

    // Q2 gets two votes, Q1 one; a second vote by the same user is refused.
    for (who, q) in [(&ana, &q2), (&cy, &q2), (&cy, &q1)] {
        let res = app.post(who, &format!("{path}/questions/{q}/vote"), json!({})).await;
        assert_eq!(res.status(), 200);
    }
    let res = app.post(&cy, &format!("{path}/questions/{q2}/vote"), json!({})).await;
    assert_eq!(code_of(res).await, (409, "already_voted".into()));
    let seen = queue(&app, &cy, &path).await;
    assert_eq!(
        seen,
        vec![
            ("Which DAW?".into(), 2, "open".into(), true),
            ("How do you tune?".into(), 1, "open".into(), true),
            ("Favourite pedal?".into(), 0, "open".into(), false),
        ]
    );

    // The artist answers Q2 (it moves after the open ones) and hides Q3; fans may not.
    let res = app.post(&ana, &format!("{path}/questions/{q2}/answered"), json!({})).await;
    assert_eq!(res.status(), 403);
    assert_eq!(app.post(&artist, &format!("{path}/questions/{q2}/answered"), json!({})).await.status(), 200);
    assert_eq!(app.post(&artist, &format!("{path}/questions/{q3}/hide"), json!({})).await.status(), 200);
    let fan_view: Vec<String> =
        queue(&app, &ben, &path).await.into_iter().map(|q| format!("{}:{}", q.0, q.2)).collect();
    assert_eq!(fan_view, vec!["How do you tune?:open", "Which DAW?:answered"]);
    let host_view = queue(&app, &artist, &path).await;
    assert_eq!(host_view.last().unwrap().2, "hidden");
    let res = app.post(&ben, &format!("{path}/questions/{q2}/vote"), json!({})).await;
    assert_eq!(code_of(res).await, (409, "question_closed".into()));
    let res = app.post(&ben, &format!("{path}/questions/{q3}/vote"), json!({})).await;
    assert_eq!(res.status(), 404);

    // The host brings Q1's author on stage: her view of the room has the guest slot.
    let res = app.post(&ben, &format!("{path}/questions/{q1}/stage"), json!({})).await;
    assert_eq!(res.status(), 403);
    let res = app.post(&artist, &format!("{path}/questions/{q1}/stage"), json!({})).await;
    assert_eq!(res.status(), 200);
    let staged: Value = res.json().await.unwrap();
    assert!(staged["staged_at"].is_string());
    let view: Value = app.get(&ana, &format!("/v1/rooms/{room}")).await.json().await.unwrap();
    assert_eq!(view["your_role"], "guest");
    assert_eq!(view["stage_guest_id"], json!(ana.id));
    app.eventually(std::time::Duration::from_secs(5), || async {
        events
            .on(&format!("user:{}", ana.id))
            .into_iter()
            .any(|e| matches!(&e, BusEvent::Notice { event, .. } if event == "showcase.on_stage"))
            .then_some(())
    })
    .await;
    let asked = events
        .on(&format!("room:{room}"))
        .into_iter()
        .filter(|e| matches!(e, BusEvent::Notice { event, .. } if event == "question.asked"))
        .count();
    assert_eq!(asked, 3);
}

#[tokio::test]
async fn questions_are_bounded_in_length_and_number() {
    let app = TestApp::spawn().await;
    let artist = app.user(Role::Creator).await;
    let (path, _) = in_workshop(&app, &artist).await;
    let fan = app.user(Role::Fan).await;
    for bad in [
        json!({"text": ""}),
        json!({"text": "x".repeat(301)}),
        json!({"text": "a\u{7}b"}),
        json!({"text": "ok", "x": 1}),
    ] {
        let res = app.post(&fan, &format!("{path}/questions"), bad.clone()).await;
        assert_eq!(res.status(), 400, "{bad}");
    }
    for i in 0..3 {
        ask(&app, &fan, &path, &format!("question {i}")).await;
    }
    let res = app.post(&fan, &format!("{path}/questions"), json!({"text": "a fourth"})).await;
    assert_eq!(code_of(res).await, (409, "too_many_questions".into()));
}

#[tokio::test]
async fn asking_is_rate_limited_per_user() {
    let mut t = TestCore::new().await;
    let mut core_settings = (*t.core.settings).clone();
    let limit = ClassLimits { user: Some(Limit::per(1, 180)), addr: None, fail: FailMode::Open };
    core_settings.rate_limits.set(Class::Question, limit);
    t.core.settings = Arc::new(core_settings);
    let app = TestApp::spawn_on(t, settings()).await;
    let artist = app.user(Role::Creator).await;
    let (path, _) = in_workshop(&app, &artist).await;
    let fan = app.user(Role::Fan).await;
    ask(&app, &fan, &path, "first").await;
    let res = app.post(&fan, &format!("{path}/questions"), json!({"text": "second"})).await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    // Votes are ordinary writes, not limited by the question class.
    let other = app.user(Role::Fan).await;
    let q = ask(&app, &other, &path, "other's").await;
    assert_eq!(app.post(&fan, &format!("{path}/questions/{q}/vote"), json!({})).await.status(), 200);
}
