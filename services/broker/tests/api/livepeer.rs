use crate::helpers::{code_of, livepeer_settings, slot, TestApp};
use crate::standin::StandIn;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tandem_broker::config::LivepeerSettings;
use tandem_broker::domain::{RoomKind, SlotName};
use tandem_broker::provider::livepeer::LivepeerProvider;
use tandem_broker::provider::{ProviderError, StreamProvider, StreamSpec};
use tandem_shared::ids::{Role, RoomId, SlotId, UserId};

#[tokio::test]
async fn livepeer_room_pairs_two_streams_and_releases_both() {
    let lp = StandIn::start();
    let app = TestApp::spawn_with(livepeer_settings(&lp.base)).await;
    let creator = app.user(Role::Creator).await;
    let res = app.post(&creator, "/v1/rooms", json!({"title": "lp", "media": "livepeer"})).await;
    assert_eq!(res.status(), 201);
    let room: Value = res.json().await.unwrap();
    let created = lp.state.created.lock().unwrap().clone();
    assert_eq!(created.len(), 2);
    assert_eq!(created[0]["userTags"]["tandem_room_id"], room["id"]);
    assert_eq!(created[0]["userTags"]["tandem_slot"], "host");
    assert_eq!(created[1]["userTags"]["tandem_slot"], "guest");
    assert_eq!(created[0]["creatorId"]["value"], json!(creator.id.to_string()));
    let publish = &slot(&room, "host")["publish"];
    assert!(publish["whip_url"].as_str().unwrap().starts_with("https://playback.livepeer.studio/webrtc/"));
    assert!(publish["rtmp_url"].as_str().unwrap().starts_with("rtmp://rtmp.livepeer.com/live/"));
    let play = &slot(&room, "guest")["play"];
    assert!(play["whep_url"].as_str().unwrap().starts_with("https://livepeercdn.studio/webrtc/"));
    assert!(play["hls_url"].as_str().unwrap().ends_with("/index.m3u8"));

    // A viewer never sees a stream key.
    let fan = app.user(Role::Fan).await;
    let id = room["id"].as_str().unwrap();
    let seen = app.get(&fan, &format!("/v1/rooms/{id}")).await.text().await.unwrap();
    let key_of_host = publish["whip_url"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    assert!(!seen.contains(&key_of_host));

    app.post(&creator, &format!("/v1/rooms/{id}/end"), json!({})).await;
    let mut deleted = lp.state.deleted.lock().unwrap().clone();
    let mut ids = lp.state.created_ids.lock().unwrap().clone();
    deleted.sort();
    ids.sort();
    assert_eq!(deleted, ids, "both streams deleted on end");
}

#[tokio::test]
async fn both_slots_or_none_when_the_second_create_fails() {
    let lp = StandIn::start();
    *lp.state.fail_suffix.lock().unwrap() = Some("-guest".into());
    let app = TestApp::spawn_with(livepeer_settings(&lp.base)).await;
    let creator = app.user(Role::Creator).await;
    let res = app.post(&creator, "/v1/rooms", json!({"media": "livepeer"})).await;
    let (status, code) = code_of(res).await;
    assert_eq!((status, code.as_str()), (503, "provider_unavailable"));
    let created = lp.state.created_ids.lock().unwrap().clone();
    assert_eq!(created.len(), 1, "the host stream was created");
    assert_eq!(*lp.state.deleted.lock().unwrap(), created, "and deleted again");
    let rooms: i64 = sqlx::query_scalar("select count(*) from rooms").fetch_one(&app.t.core.db).await.unwrap();
    assert_eq!(rooms, 0);

    // The same on accept: the request stays pending, the creator is not left busy.
    let mut s = livepeer_settings(&lp.base);
    s.private_media = tandem_broker::domain::MediaMode::Livepeer;
    drop(app);
    let app = TestApp::spawn_with(s).await;
    let creator = app.creator_online().await;
    let fan = app.user(Role::Fan).await;
    let rid = app.request_id(&fan, &creator).await;
    let res = app.post(&creator, &format!("/v1/private-requests/{rid}/accept"), json!({})).await;
    assert_eq!(code_of(res).await.0, 503);
    let req: Value = app.get(&fan, &format!("/v1/private-requests/{rid}")).await.json().await.unwrap();
    assert_eq!(req["status"], "pending");
    let presence: Value = app.get(&fan, &format!("/v1/presence/{}", creator.id)).await.json().await.unwrap();
    assert_eq!(presence["status"], "online");
    *lp.state.fail_suffix.lock().unwrap() = None;
    let res = app.post(&creator, &format!("/v1/private-requests/{rid}/accept"), json!({})).await;
    assert_eq!(res.status(), 200, "a retry succeeds once the provider recovers");
}

fn spec() -> StreamSpec {
    StreamSpec {
        room_id: RoomId::new(),
        slot_id: SlotId::new(),
        slot: SlotName::Host,
        kind: RoomKind::Private,
        host_id: UserId::new(),
    }
}

#[tokio::test]
async fn livepeer_client_retries_on_503_honouring_retry_after() {
    let lp = StandIn::start();
    lp.state.busy.store(1, Ordering::SeqCst);
    let mut s = LivepeerSettings::new(&lp.base, crate::standin::API_KEY);
    s.backoff = Duration::from_millis(10);
    let client = LivepeerProvider::new(s).unwrap();
    let started = Instant::now();
    let stream = client.create_stream(&spec()).await.expect("second attempt succeeds");
    assert_eq!(lp.state.create_calls.load(Ordering::SeqCst), 2);
    assert!(started.elapsed() >= Duration::from_millis(950), "waited for Retry-After: 1");
    assert!(stream.stream_key.is_some() && stream.playback_id.is_some());
    assert!(!format!("{stream:?}").contains(stream.stream_key.as_deref().unwrap()), "Debug hides the key");

    // Persistent 503s give up after the retry budget; a Retry-After past the cap is not waited.
    lp.state.busy.store(10, Ordering::SeqCst);
    let mut s = LivepeerSettings::new(&lp.base, crate::standin::API_KEY);
    s.max_retry_after = Duration::from_millis(500);
    let client = LivepeerProvider::new(s).unwrap();
    let before = lp.state.create_calls.load(Ordering::SeqCst);
    let err = client.create_stream(&spec()).await.unwrap_err();
    assert!(matches!(err, ProviderError::Unavailable(_)), "{err:?}");
    assert_eq!(lp.state.create_calls.load(Ordering::SeqCst) - before, 1);

    // A wrong key is a 4xx: not retried, reported as rejected.
    let client = LivepeerProvider::new(LivepeerSettings::new(&lp.base, "wrong")).unwrap();
    let before = lp.state.create_calls.load(Ordering::SeqCst);
    assert!(matches!(client.create_stream(&spec()).await.unwrap_err(), ProviderError::Rejected(_)));
    assert_eq!(lp.state.create_calls.load(Ordering::SeqCst) - before, 1);

    // Deleting an unknown stream counts as deleted.
    let client = LivepeerProvider::new(LivepeerSettings::new(&lp.base, crate::standin::API_KEY)).unwrap();
    client.delete_stream("no-such-stream").await.unwrap();
}

const TEST_EC_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgIejYb1yhmC9acoSo
47eM3qWxubG/LEWA1o0Wb6j+6/ShRANCAAQLlUF8Vdhz0hUT3iGvFYm7fzd+yNOC
82dwKjr+x/O651zJzWzk0QDb2YCMakaWnYCUxRl0cZUm2CQOYlzktQcj
-----END PRIVATE KEY-----
";
const TEST_EC_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEC5VBfFXYc9IVE94hrxWJu383fsjT
gvNncCo6/sfzuudcyc1s5NEA29mAjGpGlp2AlMUZdHGVJtgkDmJc5LUHIw==
-----END PUBLIC KEY-----
";

#[tokio::test]
async fn private_livepeer_playback_is_gated_by_a_signed_jwt() {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let lp = StandIn::start();
    let mut s = livepeer_settings(&lp.base);
    s.private_media = tandem_broker::domain::MediaMode::Livepeer;
    let key =
        tandem_broker::config::PlaybackSigningKey::from_base64(&b64(TEST_EC_PUBLIC), &b64(TEST_EC_PRIVATE)).unwrap();
    s.livepeer.as_mut().unwrap().playback_signing = Some(key);
    let app = TestApp::spawn_with(s).await;
    let creator = app.creator_online().await;
    let fan = app.user(Role::Fan).await;
    let rid = app.request_id(&fan, &creator).await;
    let body: Value =
        app.post(&creator, &format!("/v1/private-requests/{rid}/accept"), json!({})).await.json().await.unwrap();
    let created = lp.state.created.lock().unwrap().clone();
    assert!(created.iter().all(|c| c["playbackPolicy"]["type"] == "jwt"), "private streams are gated");

    let room_id = body["room"]["id"].as_str().unwrap();
    let mine: Value = app.get(&fan, &format!("/v1/rooms/{room_id}")).await.json().await.unwrap();
    let whep = slot(&mine, "host")["play"]["whep_url"].as_str().unwrap().to_string();
    let (url, jwt) = whep.split_once("?jwt=").expect("the play URL carries a JWT");
    let playback_id = url.rsplit('/').next().unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_required_spec_claims(&["exp", "sub"]);
    validation.validate_aud = false;
    let decoding = jsonwebtoken::DecodingKey::from_ec_pem(TEST_EC_PUBLIC.as_bytes()).unwrap();
    let claims = jsonwebtoken::decode::<Value>(jwt, &decoding, &validation).expect("a valid ES256 JWT").claims;
    assert_eq!(claims["sub"], playback_id);
    assert_eq!(claims["pub"], b64(TEST_EC_PUBLIC));
    assert_eq!(claims["action"], "pull");
    assert!(slot(&mine, "host")["play"]["hls_url"].as_str().unwrap().contains("?jwt="));

    // Broadcasts stay public.
    let other = app.user(Role::Creator).await;
    let room: Value = app.post(&other, "/v1/rooms", json!({"media": "livepeer"})).await.json().await.unwrap();
    assert!(lp.state.created.lock().unwrap().last().unwrap().get("playbackPolicy").is_none());
    assert!(!slot(&room, "guest")["play"]["whep_url"].as_str().unwrap().contains("jwt="));
}

#[tokio::test]
async fn a_process_without_livepeer_leaves_livepeer_slots_to_a_brokers_reaper() {
    let lp = StandIn::start();
    let app = TestApp::spawn_with(livepeer_settings(&lp.base)).await;
    let creator = app.user(Role::Creator).await;
    let res = app.post(&creator, "/v1/rooms", json!({"title": "lp", "media": "livepeer"})).await;
    assert_eq!(res.status(), 201);
    let room: Value = res.json().await.unwrap();
    let id: RoomId = room["id"].as_str().unwrap().parse().unwrap();
    // A broker without Livepeer settings (as in a standalone billing process) ends the room.
    let (_core, other) = app.second_node(crate::helpers::settings()).await;
    assert!(other.end_room(id, "funds_exhausted").await.unwrap());
    let held: i64 = sqlx::query_scalar("select count(*) from room_slots where room_id = $1 and released_at is null")
        .bind(id)
        .fetch_one(&app.t.core.db)
        .await
        .unwrap();
    assert_eq!(held, 2, "the streams still exist, so the slots stay held");
    assert!(lp.state.deleted.lock().unwrap().is_empty());
    // The Livepeer-configured broker's sweep deletes the streams and releases the slots.
    for slot in tandem_broker::store::slots(&app.t.core.db, id).await.unwrap() {
        app.broker.release_slot(&slot).await;
    }
    assert_eq!(lp.state.deleted.lock().unwrap().len(), 2);
}
