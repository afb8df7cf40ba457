use crate::helpers::{code_of, livepeer_settings, TestApp, User, WEBHOOK_SECRET};
use crate::standin::StandIn;
use serde_json::{json, Value};
use std::time::Duration;
use tandem_broker::domain::MediaMode;
use tandem_broker::provider::livepeer::sign_webhook;
use tandem_shared::events::BusEvent;
use tandem_shared::ids::Role;

const YOUTUBE: &str = "rtmp://a.rtmp.youtube.com/live2/yt-secret-key";
const RADIO: &str = "srt://ufo.example:9000?streamid=radio-secret";

async fn showcase(app: &TestApp, artist: &User) -> String {
    let starts = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let s: Value = app
        .post(artist, "/v1/showcases", json!({"title": "Everywhere", "starts_at": starts, "artists": [artist.id]}))
        .await
        .json()
        .await
        .unwrap();
    format!("/v1/showcases/{}", s["id"].as_str().unwrap())
}

async fn webhook(app: &TestApp, event: &str, target: &str) -> u16 {
    let now = chrono::Utc::now().timestamp_millis();
    let body = json!({"id": uuid::Uuid::new_v4().to_string(), "webhookId": "wh1", "createdAt": now, "timestamp": now,
                      "event": event, "payload": {"target": {"id": target, "profile": "source"}}})
    .to_string();
    app.http
        .post(app.url("/v1/webhooks/livepeer"))
        .header("content-type", "application/json")
        .header("Livepeer-Signature", sign_webhook(WEBHOOK_SECRET, body.as_bytes(), now))
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn targets_go_to_livepeer_with_the_documented_bodies_urls_are_never_returned_and_webhooks_set_their_status() {
    let lp = StandIn::start();
    let mut s = livepeer_settings(&lp.base);
    s.broadcast_media = MediaMode::Livepeer;
    let app = TestApp::spawn_with(s).await;
    let events = app.events().await;
    let artist = app.user(Role::Creator).await;
    let path = showcase(&app, &artist).await;

    // Added before the show: created at Livepeer (name + url only), idle here.
    let res = app.post(&artist, &format!("{path}/multistream"), json!({"name": "YouTube", "url": YOUTUBE})).await;
    assert_eq!(res.status(), 201);
    let text = res.text().await.unwrap();
    assert!(!text.contains("yt-secret-key") && !text.contains("youtube.com"), "the URL is write-only: {text}");
    let yt: Value = serde_json::from_str(&text).unwrap();
    assert_eq!((yt["protocol"].as_str(), yt["status"].as_str()), (Some("rtmp"), Some("idle")));
    {
        let targets = lp.state.targets.lock().unwrap();
        assert_eq!(targets.len(), 1);
        assert_eq!(targets[0].1["url"], YOUTUBE);
        assert!(targets[0].1["name"].as_str().unwrap().ends_with("YouTube"));
    }
    let stranger = app.user(Role::Creator).await;
    assert_eq!(
        app.post(&stranger, &format!("{path}/multistream"), json!({"name": "x", "url": RADIO})).await.status(),
        403
    );
    for bad in [json!({"name": "x", "url": "https://example.com/live"}), json!({"name": "", "url": RADIO})] {
        assert_eq!(app.post(&artist, &format!("{path}/multistream"), bad).await.status(), 400);
    }

    // At start the host stream pushes its source rendition to the target.
    let live: Value = app.post(&artist, &format!("{path}/start"), json!({})).await.json().await.unwrap();
    assert_eq!(live["status"], "live");
    let host_stream = lp.state.created_ids.lock().unwrap()[0].clone();
    let yt_lp = lp.state.targets.lock().unwrap()[0].0.clone();
    assert_eq!(
        lp.state.stream_targets.lock().unwrap().clone(),
        vec![(host_stream.clone(), json!({"profile": "source", "id": yt_lp}))]
    );
    // Added while live: pushed at once.
    let radio: Value = app
        .post(&artist, &format!("{path}/multistream"), json!({"name": "UFO.fm", "url": RADIO}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!((radio["protocol"].as_str(), radio["status"].as_str()), (Some("srt"), Some("pending")));
    assert_eq!(lp.state.stream_targets.lock().unwrap().len(), 2);

    // Livepeer's webhooks become the status the artist sees (list and socket notice).
    let radio_lp = lp.state.targets.lock().unwrap()[1].0.clone();
    assert_eq!(webhook(&app, "multistream.connected", &yt_lp).await, 204);
    assert_eq!(webhook(&app, "multistream.error", &radio_lp).await, 204);
    let res = app.get(&artist, &format!("{path}/multistream")).await;
    let text = res.text().await.unwrap();
    assert!(!text.contains("secret") && !text.contains("rtmp://") && !text.contains("srt://"), "{text}");
    let list: Value = serde_json::from_str(&text).unwrap();
    let statuses: Vec<&str> =
        list["targets"].as_array().unwrap().iter().map(|t| t["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["connected", "error"]);
    app.eventually(Duration::from_secs(5), || async {
        events
            .on(&format!("user:{}", artist.id))
            .into_iter()
            .any(|e| matches!(&e, BusEvent::Notice { event, data } if event == "multistream.status" && data["target"]["status"] == "connected"))
            .then_some(())
    })
    .await;

    // Removing a target takes it off the stream and deletes it at Livepeer.
    let res = app
        .http
        .delete(app.url(&format!("{path}/multistream/{}", radio["id"].as_str().unwrap())))
        .bearer_auth(&artist.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(lp.state.removed_stream_targets.lock().unwrap().clone(), vec![(host_stream, radio_lp.clone())]);
    assert_eq!(lp.state.deleted_targets.lock().unwrap().clone(), vec![radio_lp]);
    let list: Value = app.get(&artist, &format!("{path}/multistream")).await.json().await.unwrap();
    assert_eq!(list["targets"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn without_livepeer_multistream_is_refused_plainly() {
    let app = TestApp::spawn().await;
    let artist = app.user(Role::Creator).await;
    let path = showcase(&app, &artist).await;
    let res = app.post(&artist, &format!("{path}/multistream"), json!({"name": "YouTube", "url": YOUTUBE})).await;
    assert_eq!(code_of(res).await, (409, "multistream_unavailable".into()));
}
