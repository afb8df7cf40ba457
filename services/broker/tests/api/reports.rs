use crate::helpers::{TestApp, User};
use chrono::{DateTime, Duration as ChronoDuration, TimeZone, Utc};
use serde_json::{json, Value};
use std::time::Duration;
use tandem_shared::audience::{append, AudienceBatch, RoomCounts, ViewSpan};
use tandem_shared::ids::{ConnectionId, Role, RoomId, UserId};

fn day(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).unwrap()
}

/// An ended broadcast of `host` opened at `at`.
async fn seed_room(app: &TestApp, host: &User, at: DateTime<Utc>) -> RoomId {
    let id = RoomId::new();
    sqlx::query(
        "insert into rooms (room_id, kind, status, media, host_id, title, created_at, ended_at, end_reason)
         values ($1, 'broadcast', 'ended', 'relay', $2, 'seeded', $3, $3 + interval '2 hours', 'host_ended')",
    )
    .bind(id)
    .bind(host.id)
    .bind(at)
    .execute(&app.t.core.db)
    .await
    .unwrap();
    id
}

/// A showcase of `artists` held at `at` in its own room.
async fn seed_showcase(app: &TestApp, artists: &[&User], at: DateTime<Utc>) -> RoomId {
    let room = seed_room(app, artists[0], at).await;
    let ids: Vec<uuid::Uuid> = artists.iter().map(|a| a.id.0).collect();
    let handles: Vec<String> = artists.iter().map(|a| a.handle.clone()).collect();
    sqlx::query(
        "insert into showcases (showcase_id, title, starts_at, artists, artist_handles, segments, created_by, status,
                                room_id, started_at, ended_at)
         values ($1, 'seeded', $2, $3, $4, '[{\"kind\":\"performance\",\"minutes\":120}]', $5, 'ended', $6, $2,
                 $2 + interval '2 hours')",
    )
    .bind(uuid::Uuid::new_v4())
    .bind(at)
    .bind(ids)
    .bind(handles)
    .bind(artists[0].id)
    .bind(room)
    .execute(&app.t.core.db)
    .await
    .unwrap();
    room
}

#[tokio::test]
async fn the_retention_report_on_seeded_history_gives_the_hand_computed_figures() {
    let app = TestApp::spawn().await;
    let [a, b, c, d, e] = [
        app.user(Role::Creator).await,
        app.user(Role::Creator).await,
        app.user(Role::Creator).await,
        app.user(Role::Creator).await,
        app.user(Role::Creator).await,
    ];
    // Q1 2026. A: first showcase Jan 10, streams again 15 days later (30/60/90).
    seed_showcase(&app, &[&a], day(2026, 1, 10)).await;
    seed_room(&app, &a, day(2026, 1, 25)).await;
    // B: Feb 1, again 47 days later (60/90), with C as co-artist on a later showcase.
    seed_showcase(&app, &[&b], day(2026, 2, 1)).await;
    seed_room(&app, &b, day(2026, 3, 20)).await;
    // C: first showcase Mar 1 (co-artist), again 85 days later (90 only).
    seed_showcase(&app, &[&c, &b], day(2026, 3, 1)).await;
    seed_room(&app, &c, day(2026, 5, 25)).await;
    // D: Mar 15, streamed only before it: not retained.
    seed_room(&app, &d, day(2026, 3, 5)).await;
    seed_showcase(&app, &[&d], day(2026, 3, 15)).await;
    // E: first showcase in November 2025 (not new), another in Q1.
    seed_showcase(&app, &[&e], day(2025, 11, 1)).await;
    seed_showcase(&app, &[&e], day(2026, 2, 10)).await;

    let op = app.user(Role::Operator).await;
    let q1 = "/v1/reports/artists?from=2026-01-01T00:00:00Z&to=2026-04-01T00:00:00Z";
    let res = app.get(&op, q1).await;
    assert_eq!(res.status(), 200);
    let r: Value = res.json().await.unwrap();
    let s = &r["summary"];
    // Hand-computed: 5 showcases held in Q1 (A, B, C+B, D, E); artists A-E; new A, B, C, D;
    // retained within 30 days: A; 60: A, B; 90: A, B, C.
    assert_eq!(s["showcases_held"], 5);
    assert_eq!(s["artists"], 5);
    assert_eq!(s["new_artists"], 4);
    assert_eq!(
        (s["retained_30"].as_u64(), s["retained_60"].as_u64(), s["retained_90"].as_u64()),
        (Some(1), Some(2), Some(3))
    );
    assert_eq!(
        (s["retention_30"].as_f64(), s["retention_60"].as_f64(), s["retention_90"].as_f64()),
        (Some(0.25), Some(0.5), Some(0.75))
    );
    let row =
        |u: &User| r["artists"].as_array().unwrap().iter().find(|x| x["artist_id"] == json!(u.id)).unwrap().clone();
    assert_eq!(row(&b)["showcases_held"], 2);
    assert_eq!(row(&e)["new_in_period"], false);
    assert_eq!(row(&d)["retained_90"], false);
    assert_eq!(row(&c)["retained_60"], false);
    assert_eq!(row(&c)["retained_90"], true);

    // Q2 holds no showcase: no artists, no rates.
    let q2: Value = app
        .get(&op, "/v1/reports/artists?from=2026-04-01T00:00:00Z&to=2026-07-01T00:00:00Z")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(q2["summary"]["new_artists"], 0);
    assert!(q2["summary"]["retention_30"].is_null());

    // A creator sees only their own row; a fan nothing; CSV has a header and one row per artist.
    let mine: Value = app.get(&c, q1).await.json().await.unwrap();
    assert_eq!(mine["artists"].as_array().unwrap().len(), 1);
    assert_eq!(mine["artists"][0]["artist_id"], json!(c.id));
    assert_eq!(app.get(&app.user(Role::Fan).await, q1).await.status(), 403);
    let res = app.get(&op, &format!("{q1}&format=csv")).await;
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = res.text().await.unwrap();
    let lines: Vec<&str> = text.trim_end().split("\r\n").collect();
    assert!(lines[0].starts_with("artist_id,handle,showcases_held,views"));
    assert_eq!(lines.len(), 6);
    assert_eq!(
        app.get(&op, "/v1/reports/artists?from=2026-04-01T00:00:00Z&to=2026-01-01T00:00:00Z").await.status(),
        400
    );
}

#[tokio::test]
async fn batches_from_the_stream_become_the_showcase_report_once_each() {
    let app = TestApp::spawn().await;
    let artist = app.user(Role::Creator).await;
    let starts = (Utc::now() + ChronoDuration::hours(1)).to_rfc3339();
    let s: Value = app
        .post(&artist, "/v1/showcases", json!({"title": "Numbers", "starts_at": starts, "artists": [artist.id]}))
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/v1/showcases/{}", s["id"].as_str().unwrap());
    let live: Value = app.post(&artist, &format!("{path}/start"), json!({})).await.json().await.unwrap();
    let room: RoomId = live["room_id"].as_str().unwrap().parse().unwrap();

    // Three viewers over two nodes, times in the past (ms): u1 0-60 s, drops and resumes on node
    // b 62-120 s; u2 30-90 s; u3 watches 3 s (no view, default minimum 5 s).
    let t0 = Utc::now().timestamp_millis() - 600_000;
    let (u1, u2, u3) = (UserId::new(), UserId::new(), UserId::new());
    let span = |user, s: i64, e: Option<i64>| ViewSpan {
        room_id: room,
        user_id: user,
        conn: ConnectionId::new(),
        started_at: t0 + s,
        ended_at: e.map(|e| t0 + e),
    };
    let (s1, s2, s3, s4) =
        (span(u1, 0, None), span(u2, 30_000, None), span(u1, 62_000, Some(120_000)), span(u3, 0, Some(3_000)));
    let batch = |node: &str, spans: Vec<ViewSpan>, chat: u64| AudienceBatch {
        batch_id: uuid::Uuid::new_v4(),
        node: node.into(),
        sent_at: Utc::now().timestamp_millis(),
        spans,
        counts: vec![RoomCounts { room_id: room, chat, tips: 1, tip_amount: 500, votes: 0 }],
    };
    let redis = &app.t.core.redis;
    append(redis, &batch("node-a", vec![s1, s2, s4], 3)).await.unwrap();
    let ends = batch(
        "node-a",
        vec![ViewSpan { ended_at: Some(t0 + 60_000), ..s1 }, ViewSpan { ended_at: Some(t0 + 90_000), ..s2 }],
        2,
    );
    append(redis, &ends).await.unwrap();
    append(redis, &ends).await.unwrap(); // redelivered: applied once
    append(redis, &batch("node-b", vec![s3], 0)).await.unwrap();

    let report = app
        .eventually(Duration::from_secs(10), || async {
            let r: Value = app
                .get(&artist, &format!("/v1/reports/showcases/{}", s["id"].as_str().unwrap()))
                .await
                .json()
                .await
                .unwrap();
            (r["numbers"]["tips"] == 3).then_some(r)
        })
        .await;
    let n = &report["numbers"];
    assert_eq!(n["views"], 2);
    assert_eq!(n["unique_viewers"], 2);
    assert_eq!(n["peak_concurrent"], 2);
    // 118 s + 60 s + 3 s.
    assert_eq!(n["watch_minutes"].as_f64().unwrap(), ((181.0 / 60.0) * 1000.0_f64).round() / 1000.0);
    assert_eq!(n["chat_messages"], 5);
    assert_eq!(n["tip_amount"], 1500);
    assert!(!n["series"].as_array().unwrap().is_empty());

    // The stream is drained: the broker deletes what it consumed.
    let mut c = redis.conn.clone();
    let len: u64 =
        redis::cmd("XLEN").arg(tandem_shared::audience::stream_key(redis)).query_async(&mut c).await.unwrap();
    assert_eq!(len, 0);

    // Who may read it; CSV.
    let fan = app.user(Role::Fan).await;
    let other = app.user(Role::Creator).await;
    let rp = format!("/v1/reports/showcases/{}", s["id"].as_str().unwrap());
    assert_eq!(app.get(&fan, &rp).await.status(), 403);
    assert_eq!(app.get(&other, &rp).await.status(), 403);
    let op = app.user(Role::Operator).await;
    let text = app.get(&op, &format!("{rp}?format=csv")).await.text().await.unwrap();
    assert!(text.starts_with("showcase_id,room_id,title"));
    assert_eq!(app.get(&artist, &format!("/v1/reports/rooms/{room}")).await.status(), 200);
    assert_eq!(app.get(&fan, &format!("/v1/reports/rooms/{room}")).await.status(), 403);
}

#[tokio::test]
async fn open_spans_of_a_node_that_stopped_sending_end_at_its_last_batch() {
    let app = TestApp::spawn().await;
    let artist = app.user(Role::Creator).await;
    let room = app.open_room(&artist).await;
    let room: RoomId = room["id"].as_str().unwrap().parse().unwrap();
    let now = Utc::now().timestamp_millis();
    let user = UserId::new();
    // Node "gone" sent its last batch 5 minutes ago, with a span opened 6 minutes ago.
    let batch = AudienceBatch {
        batch_id: uuid::Uuid::new_v4(),
        node: "gone".into(),
        sent_at: now - 300_000,
        spans: vec![ViewSpan {
            room_id: room,
            user_id: user,
            conn: ConnectionId::new(),
            started_at: now - 360_000,
            ended_at: None,
        }],
        counts: vec![],
    };
    append(&app.t.core.redis, &batch).await.unwrap();
    let r = app
        .eventually(Duration::from_secs(10), || async {
            let r: Value = app.get(&artist, &format!("/v1/reports/rooms/{room}")).await.json().await.unwrap();
            (r["numbers"]["views"] == 1).then_some(r)
        })
        .await;
    assert_eq!(r["numbers"]["watch_minutes"], 1.0);
}
