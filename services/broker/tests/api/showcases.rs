use crate::helpers::{code_of, settings, TestApp, User};
use chrono::{Duration as ChronoDuration, Utc};
use serde_json::{json, Value};
use std::time::Duration;
use tandem_shared::events::{BusEvent, SegmentKind};
use tandem_shared::ids::Role;

async fn schedule(app: &TestApp, by: &User, body: Value) -> reqwest::Response {
    app.post(by, "/v1/showcases", body).await
}

async fn scheduled(app: &TestApp, by: &User, body: Value) -> Value {
    let res = schedule(app, by, body).await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

fn in_secs(s: i64) -> String {
    (Utc::now() + ChronoDuration::seconds(s)).to_rfc3339()
}

async fn public(app: &TestApp, path: &str) -> Value {
    let res = app.http.get(app.url(path)).send().await.unwrap();
    assert_eq!(res.status(), 200, "{path}");
    res.json().await.unwrap()
}

#[tokio::test]
async fn creators_schedule_their_own_showcases_and_operators_anyones() {
    let app = TestApp::spawn().await;
    let artist = app.user(Role::Creator).await;
    let other = app.user(Role::Creator).await;
    let fan = app.user(Role::Fan).await;
    let op = app.user(Role::Operator).await;

    let s =
        scheduled(&app, &artist, json!({"title": " First light ", "starts_at": in_secs(3600), "artists": [artist.id]}))
            .await;
    assert_eq!(s["title"], "First light");
    assert_eq!(s["status"], "scheduled");
    assert_eq!(s["segments"], json!([{"kind": "performance", "minutes": 120}, {"kind": "workshop", "minutes": 30}]));
    assert_eq!(s["artists"][0]["handle"], artist.handle);
    let id = s["id"].as_str().unwrap().to_string();

    // A fan, a creator scheduling someone else, a fan as artist: refused.
    let body = json!({"title": "x", "starts_at": in_secs(3600), "artists": [artist.id]});
    assert_eq!(code_of(schedule(&app, &fan, body.clone()).await).await, (403, "forbidden".into()));
    assert_eq!(code_of(schedule(&app, &other, body).await).await, (403, "forbidden".into()));
    let body = json!({"title": "x", "starts_at": in_secs(3600), "artists": [fan.id]});
    assert_eq!(code_of(schedule(&app, &op, body).await).await.0, 400);
    for bad in [
        json!({"title": "", "starts_at": in_secs(3600), "artists": [artist.id]}),
        json!({"title": "x", "starts_at": in_secs(-3600), "artists": [artist.id]}),
        json!({"title": "x", "starts_at": in_secs(3600), "artists": [artist.id], "segments": []}),
        json!({"title": "x", "starts_at": in_secs(3600), "artists": [artist.id], "segments": [{"kind": "workshop", "minutes": 601}]}),
        json!({"title": "x", "starts_at": in_secs(3600), "artists": [artist.id], "segments": [{"kind": "jam", "minutes": 5}]}),
    ] {
        assert_eq!(schedule(&app, &artist, bad.clone()).await.status(), 400, "{bad}");
    }

    // An operator schedules a line-up of two.
    let two = scheduled(
        &app,
        &op,
        json!({"title": "Duo", "starts_at": in_secs(7200), "artists": [other.id, artist.id],
               "segments": [{"kind": "performance", "minutes": 60}]}),
    )
    .await;
    assert_eq!(two["artists"].as_array().unwrap().len(), 2);

    // The public schedule, earliest first; a window that excludes both is empty.
    let list = public(&app, "/v1/showcases").await;
    let ids: Vec<&str> = list["showcases"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![id.as_str(), two["id"].as_str().unwrap()]);
    let from = (Utc::now() + ChronoDuration::days(2)).to_rfc3339();
    let later = public(&app, &format!("/v1/showcases?from={}", urlencode(&from))).await;
    assert!(later["showcases"].as_array().unwrap().is_empty());
    assert_eq!(app.http.get(app.url("/v1/showcases?limit=0")).send().await.unwrap().status(), 400);
    assert_eq!(public(&app, &format!("/v1/showcases/{id}")).await["id"], id);

    // The second artist changes it; a stranger may not; nothing to change is a 400.
    let path = format!("/v1/showcases/{id}");
    let res = app.http.patch(app.url(&path)).bearer_auth(&fan.token).json(&json!({"title": "y"})).send().await.unwrap();
    assert_eq!(res.status(), 403);
    let res = app.http.patch(app.url(&path)).bearer_auth(&artist.token).json(&json!({})).send().await.unwrap();
    assert_eq!(res.status(), 400);
    let res = app
        .http
        .patch(app.url(&path))
        .bearer_auth(&artist.token)
        .json(&json!({"title": "First light (extended)", "segments": [{"kind": "performance", "minutes": 90}, {"kind": "workshop", "minutes": 45}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let changed: Value = res.json().await.unwrap();
    assert_eq!(changed["segments"][1]["minutes"], 45);

    // Cancel with a reason; it stays on the schedule as cancelled; a second cancel is a 409.
    let res = app.http.delete(app.url(&path)).bearer_auth(&artist.token).send().await.unwrap();
    assert_eq!(res.status(), 400, "a reason is required");
    let res = app.http.delete(app.url(&format!("{path}?reason=ill"))).bearer_auth(&artist.token).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let got = public(&app, &path).await;
    assert_eq!(got["status"], "cancelled");
    assert_eq!(got["cancel_reason"], "ill");
    let res = app.http.delete(app.url(&format!("{path}?reason=again"))).bearer_auth(&op.token).send().await.unwrap();
    assert_eq!(code_of(res).await, (409, "showcase_not_scheduled".into()));
    let res = app.post(&artist, &format!("{path}/start"), json!({})).await;
    assert_eq!(code_of(res).await, (409, "showcase_not_scheduled".into()));
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

fn segments_seen(events: &crate::helpers::Events, room: &str) -> Vec<(u32, SegmentKind)> {
    events
        .on(&format!("room:{room}"))
        .into_iter()
        .filter_map(|e| match e {
            BusEvent::SegmentStarted { index, kind, .. } => Some((index, kind)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_showcase_opens_its_room_at_start_switches_segment_on_schedule_and_ends() {
    let app = TestApp::spawn().await;
    let events = app.events().await;
    let artist = app.user(Role::Creator).await;
    let s = scheduled(
        &app,
        &artist,
        json!({"title": "Dawn", "starts_at": in_secs(1), "artists": [artist.id],
               "segments": [{"kind": "performance", "minutes": 1}, {"kind": "workshop", "minutes": 1}, {"kind": "performance", "minutes": 2}]}),
    )
    .await;
    let id = s["id"].as_str().unwrap().to_string();
    let path = format!("/v1/showcases/{id}");

    // Automatically at starts_at: the room opens, hosted by the artist, segment 0 runs.
    let live = app
        .eventually(Duration::from_secs(10), || async {
            let v = public(&app, &path).await;
            (v["status"] == "live").then_some(v)
        })
        .await;
    let room = live["room_id"].as_str().unwrap().to_string();
    assert_eq!(live["current_segment"]["index"], 0);
    assert_eq!(live["current_segment"]["kind"], "performance");
    let room_view: Value = app.get(&artist, &format!("/v1/rooms/{room}")).await.json().await.unwrap();
    assert_eq!(room_view["status"], "live");
    assert_eq!(room_view["your_role"], "host");
    assert_eq!(room_view["title"], "Dawn");
    app.eventually(Duration::from_secs(5), || async { (!segments_seen(&events, &room).is_empty()).then_some(()) })
        .await;

    // On schedule: when the segment's time is up the reaper moves to the workshop.
    sqlx::query("update showcases set segment_ends_at = now() where showcase_id = $1::uuid")
        .bind(&id)
        .execute(&app.t.core.db)
        .await
        .unwrap();
    let workshop = app
        .eventually(Duration::from_secs(5), || async {
            let v = public(&app, &path).await;
            (v["current_segment"]["index"] == 1).then_some(v)
        })
        .await;
    assert_eq!(workshop["current_segment"]["kind"], "workshop");
    let ends_at =
        chrono::DateTime::parse_from_rfc3339(workshop["current_segment"]["ends_at"].as_str().unwrap()).unwrap();
    let left = ends_at.with_timezone(&Utc) - Utc::now();
    assert!(left > ChronoDuration::seconds(50) && left <= ChronoDuration::seconds(60), "{left}");

    // The artist moves on early; a fan may not.
    assert_eq!(app.post(&app.user(Role::Fan).await, &format!("{path}/next"), json!({})).await.status(), 403);
    let third: Value = app.post(&artist, &format!("{path}/next"), json!({})).await.json().await.unwrap();
    assert_eq!(third["current_segment"]["index"], 2);
    app.eventually(Duration::from_secs(5), || async {
        let seen = segments_seen(&events, &room);
        (seen == vec![(0, SegmentKind::Performance), (1, SegmentKind::Workshop), (2, SegmentKind::Performance)])
            .then_some(())
    })
    .await;

    // After the last segment the showcase and its room end.
    let ended: Value = app.post(&artist, &format!("{path}/next"), json!({})).await.json().await.unwrap();
    assert_eq!(ended["status"], "ended");
    assert_eq!(app.room_row(&room).await.unwrap(), ("ended".into(), Some("showcase_ended".into())));
    let res = app.post(&artist, &format!("{path}/next"), json!({})).await;
    assert_eq!(code_of(res).await, (409, "showcase_not_live".into()));
}

#[tokio::test]
async fn the_artist_starts_early_and_ending_the_room_ends_the_showcase() {
    let app = TestApp::spawn().await;
    let artist = app.user(Role::Creator).await;
    let s =
        scheduled(&app, &artist, json!({"title": "Early", "starts_at": in_secs(3600), "artists": [artist.id]})).await;
    let path = format!("/v1/showcases/{}", s["id"].as_str().unwrap());
    let stranger = app.user(Role::Creator).await;
    assert_eq!(app.post(&stranger, &format!("{path}/start"), json!({})).await.status(), 403);
    let res = app.post(&artist, &format!("{path}/start"), json!({})).await;
    assert_eq!(res.status(), 200);
    let live: Value = res.json().await.unwrap();
    assert_eq!(live["status"], "live");
    let room = live["room_id"].as_str().unwrap().to_string();
    let res = app.post(&artist, &format!("{path}/start"), json!({})).await;
    assert_eq!(code_of(res).await, (409, "showcase_not_scheduled".into()));

    // The host ends the room the usual way: the showcase ends with it.
    assert_eq!(app.post(&artist, &format!("/v1/rooms/{room}/end"), json!({})).await.status(), 200);
    assert_eq!(public(&app, &path).await["status"], "ended");

    // A showcase that ended while its room's end failed: the reaper ends the room.
    let s =
        scheduled(&app, &artist, json!({"title": "Again", "starts_at": in_secs(3600), "artists": [artist.id]})).await;
    let path = format!("/v1/showcases/{}", s["id"].as_str().unwrap());
    let live: Value = app.post(&artist, &format!("{path}/start"), json!({})).await.json().await.unwrap();
    let room = live["room_id"].as_str().unwrap().to_string();
    sqlx::query("update showcases set status = 'ended', ended_at = now() where room_id = $1::uuid")
        .bind(&room)
        .execute(&app.t.core.db)
        .await
        .unwrap();
    let row = app
        .eventually(Duration::from_secs(5), || async {
            app.room_row(&room).await.filter(|(status, _)| status == "ended")
        })
        .await;
    assert_eq!(row.1.as_deref(), Some("showcase_ended"));
}

#[tokio::test]
async fn with_two_brokers_a_due_showcase_starts_exactly_once() {
    let app = TestApp::spawn().await;
    let (_core, _second) = app.second_node(settings()).await;
    let artist = app.user(Role::Creator).await;
    let s = scheduled(&app, &artist, json!({"title": "Once", "starts_at": in_secs(1), "artists": [artist.id]})).await;
    let path = format!("/v1/showcases/{}", s["id"].as_str().unwrap());
    app.eventually(Duration::from_secs(10), || async { (public(&app, &path).await["status"] == "live").then_some(()) })
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rooms: i64 = sqlx::query_scalar("select count(*) from rooms where host_id = $1")
        .bind(artist.id)
        .fetch_one(&app.t.core.db)
        .await
        .unwrap();
    assert_eq!(rooms, 1);
}

/// Parse the feed with Python's `icalendar` (installed with pip when missing).
fn parse_with_python(ics: &str) -> Value {
    let have = std::process::Command::new("python3").args(["-c", "import icalendar"]).status();
    if !have.map(|s| s.success()).unwrap_or(false) {
        let pip = std::process::Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "icalendar"])
            .status()
            .expect("python3 runs");
        assert!(pip.success(), "pip install icalendar");
    }
    let script = r#"
import sys, json, icalendar
cal = icalendar.Calendar.from_ical(sys.stdin.buffer.read())
out = []
for ev in cal.walk('VEVENT'):
    out.append({
        'uid': str(ev.get('UID')),
        'summary': str(ev.get('SUMMARY')),
        'description': str(ev.get('DESCRIPTION')),
        'status': str(ev.get('STATUS')),
        'sequence': int(ev.get('SEQUENCE')),
        'start': ev.decoded('DTSTART').isoformat(),
        'minutes': (ev.decoded('DTEND') - ev.decoded('DTSTART')).total_seconds() / 60,
        'url': str(ev.get('URL')),
    })
print(json.dumps({'version': str(cal.get('VERSION')), 'events': out}))
"#;
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(ics.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "icalendar failed to parse the feed");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn the_icalendar_feed_parses_with_a_standard_library() {
    let app = TestApp::spawn().await;
    let artist = app.user(Role::Creator).await;
    let starts = Utc::now() + ChronoDuration::days(3);
    let title = "Jazz, blues; and \\ backslashes — ünïcödé";
    let description = format!("Line one\nLine two, with commas; semicolons\n{}", "long ".repeat(40));
    let a = scheduled(
        &app,
        &artist,
        json!({"title": title, "description": description, "starts_at": starts.to_rfc3339(), "artists": [artist.id]}),
    )
    .await;
    let b = scheduled(
        &app,
        &artist,
        json!({"title": "Gone", "starts_at": (starts + ChronoDuration::days(1)).to_rfc3339(), "artists": [artist.id]}),
    )
    .await;
    let res = app
        .http
        .delete(app.url(&format!("/v1/showcases/{}?reason=venue%20closed", b["id"].as_str().unwrap())))
        .bearer_auth(&artist.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let res = app.http.get(app.url("/v1/showcases.ics")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/calendar"));
    let raw = res.text().await.unwrap();
    assert!(raw.ends_with("END:VCALENDAR\r\n"));
    assert!(!raw.replace("\r\n", "").contains('\n'), "every line ends in CRLF");
    assert!(raw.split("\r\n").all(|l| l.len() <= 75), "lines are folded at 75 octets");

    let parsed = parse_with_python(&raw);
    assert_eq!(parsed["version"], "2.0");
    let events = parsed["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    let first = &events[0];
    assert_eq!(first["uid"], format!("{}@tandem", a["id"].as_str().unwrap()));
    assert_eq!(first["summary"], title);
    assert!(first["description"].as_str().unwrap().starts_with("Line one\nLine two, with commas; semicolons\n"));
    assert!(first["description"].as_str().unwrap().contains(&format!("Artists: {}", artist.handle)));
    assert_eq!(first["minutes"], 150.0);
    assert_eq!(first["status"], "CONFIRMED");
    let start = chrono::DateTime::parse_from_rfc3339(first["start"].as_str().unwrap()).unwrap();
    assert_eq!(start.timestamp(), starts.timestamp());
    assert!(first["url"].as_str().unwrap().ends_with(&format!("/showcase.html?id={}", a["id"].as_str().unwrap())));
    assert_eq!(events[1]["status"], "CANCELLED");
    assert_eq!(events[1]["sequence"], 1);
    assert!(events[1]["description"].as_str().unwrap().contains("Cancelled: venue closed"));
}
