//! AI rooms against the Daydream stand-in (and in local mode, without it).

use crate::daydream_standin::{DaydreamStandIn, API_KEY};
use crate::helpers::{code_of, settings, TestApp, User};
use crate::standin::StandIn;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tandem_broker::ai::daydream::{DaydreamClient, DaydreamError, DaydreamSettings};
use tandem_broker::BrokerSettings;
use tandem_shared::events::{AiSource, BusEvent};
use tandem_shared::hooks::AiControl;
use tandem_shared::ids::{Role, RoomId};

fn dd_settings(base: &str) -> DaydreamSettings {
    let mut d = DaydreamSettings::new(base, API_KEY);
    d.backoff = Duration::from_millis(10);
    d.max_retries = 2;
    d.max_retry_after = Duration::from_secs(3);
    d
}

fn with_daydream(base: &str) -> BrokerSettings {
    let mut s = settings();
    s.daydream = Some(dd_settings(base));
    s
}

async fn open_ai(app: &TestApp, creator: &User, ai: Value) -> reqwest::Response {
    app.post(creator, "/v1/rooms", json!({"title": "ai show", "ai": ai})).await
}

async fn patch_ai(app: &TestApp, user: &User, room: &str, body: Value) -> reqwest::Response {
    let url = app.url(&format!("/v1/rooms/{room}/ai"));
    app.http.patch(url).bearer_auth(&user.token).json(&body).send().await.unwrap()
}

#[tokio::test]
async fn ai_room_opens_one_daydream_stream_and_ending_deletes_it() {
    let dd = DaydreamStandIn::start();
    let app = TestApp::spawn_with(with_daydream(&dd.base)).await;
    let creator = app.user(Role::Creator).await;
    let res = open_ai(&app, &creator, json!({"prompt": "neon jellyfish", "params": {"guidance_scale": 2.5}})).await;
    assert_eq!(res.status(), 201);
    let room: Value = res.json().await.unwrap();
    let created = dd.state.created.lock().unwrap().clone();
    assert_eq!(created.len(), 1, "one Daydream stream per room");
    assert_eq!(created[0]["pipeline"], "streamdiffusion");
    assert_eq!(
        created[0]["params"],
        json!({"model_id": "stabilityai/sd-turbo", "prompt": "neon jellyfish", "guidance_scale": 2.5})
    );
    let ai = &room["ai"];
    assert_eq!(ai["mode"], "daydream");
    assert_eq!(ai["status"], "active");
    assert_eq!(ai["prompt"], "neon jellyfish");
    assert!(ai["publish"]["whip_url"].as_str().unwrap().ends_with("/whip"), "the host publishes into the pipeline");
    assert!(ai["play"]["whep_url"].as_str().unwrap().starts_with("https://livepeercdn.studio/webrtc/pb"));
    assert_eq!(ai["health"]["output_fps"], 24.0, "the host sees the pipeline's health");
    assert_eq!(ai["health"]["last_error"], "orchestrator swapped");

    let fan = app.user(Role::Fan).await;
    let id = room["id"].as_str().unwrap();
    let seen: Value = app.get(&fan, &format!("/v1/rooms/{id}")).await.json().await.unwrap();
    assert_eq!(seen["ai"]["prompt"], "neon jellyfish");
    assert!(seen["ai"]["play"]["whep_url"].is_string(), "viewers play the AI output");
    assert!(seen["ai"].get("publish").is_none() && seen["ai"].get("health").is_none());
    assert!(!seen.to_string().contains("sk_"), "a viewer never sees the stream key");

    app.post(&creator, &format!("/v1/rooms/{id}/end"), json!({})).await;
    let live = dd.state.live.lock().unwrap().clone();
    assert!(live.is_empty(), "the stream is deleted when the room ends");
    assert_eq!(dd.state.deleted.lock().unwrap().len(), 1);
    let ended: Value = app.get(&fan, &format!("/v1/rooms/{id}")).await.json().await.unwrap();
    assert_eq!(ended["ai"]["status"], "ended");
}

#[tokio::test]
async fn host_changes_send_the_documented_patch_and_reloads_need_consent() {
    let dd = DaydreamStandIn::start();
    let app = TestApp::spawn_with(with_daydream(&dd.base)).await;
    let events = app.events().await;
    let creator = app.user(Role::Creator).await;
    let room: Value = open_ai(&app, &creator, json!({"prompt": "a forest", "params": {"width": 512, "height": 512}}))
        .await
        .json()
        .await
        .unwrap();
    let id = room["id"].as_str().unwrap();

    let res = patch_ai(&app, &creator, id, json!({"prompt": "a burning forest", "params": {"seed": 42}})).await;
    assert_eq!(res.status(), 200);
    let view: Value = res.json().await.unwrap();
    assert_eq!(view["prompt"], "a burning forest");
    assert_eq!(view["params"]["width"], 512);
    let patches = dd.patches();
    assert_eq!(patches.len(), 1);
    assert_eq!(
        patches[0].1,
        json!({"pipeline": "streamdiffusion", "params": {"model_id": "stabilityai/sd-turbo", "prompt": "a burning forest", "seed": 42}})
    );

    // A reload-only change is refused without consent, and nothing reaches Daydream.
    let (status, code) = code_of(patch_ai(&app, &creator, id, json!({"params": {"width": 768}})).await).await;
    assert_eq!((status, code.as_str()), (400, "reload_required"));
    let (status, code) =
        code_of(patch_ai(&app, &creator, id, json!({"model_id": "stabilityai/sdxl-turbo"})).await).await;
    assert_eq!((status, code.as_str()), (400, "reload_required"));
    assert_eq!(dd.patches().len(), 1);
    let res = patch_ai(&app, &creator, id, json!({"params": {"width": 768}, "reload": true})).await;
    assert_eq!(res.status(), 200);
    assert_eq!(dd.patches()[1].1["params"], json!({"model_id": "stabilityai/sd-turbo", "width": 768}));

    // Unknown or out-of-bounds params, strangers, nothing to change.
    let (s, c) = code_of(patch_ai(&app, &creator, id, json!({"params": {"lora_dict": {}}})).await).await;
    assert_eq!((s, c.as_str()), (400, "invalid_input"));
    let (s, c) = code_of(patch_ai(&app, &creator, id, json!({"params": {"guidance_scale": 99}})).await).await;
    assert_eq!((s, c.as_str()), (400, "invalid_input"));
    let (s, c) = code_of(patch_ai(&app, &creator, id, json!({})).await).await;
    assert_eq!((s, c.as_str()), (400, "invalid_input"));
    let fan = app.user(Role::Fan).await;
    let (s, c) = code_of(patch_ai(&app, &fan, id, json!({"prompt": "mine"})).await).await;
    assert_eq!((s, c.as_str()), (403, "forbidden"));
    assert_eq!(dd.patches().len(), 2);

    // Daydream refuses an update: a clear 502, and the room keeps what Daydream runs.
    dd.state.script.lock().unwrap().push_back(400);
    let res = patch_ai(&app, &creator, id, json!({"prompt": "refused"})).await;
    assert_eq!(res.status(), 502);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "ai_provider_error");
    let seen: Value = app.get(&fan, &format!("/v1/rooms/{id}")).await.json().await.unwrap();
    assert_eq!(seen["ai"]["prompt"], "a burning forest");

    let updates = app
        .eventually(Duration::from_secs(5), || async {
            let ev = events.on(&format!("room:{id}"));
            (ev.len() >= 2).then_some(ev)
        })
        .await;
    assert!(
        matches!(&updates[0], BusEvent::AiUpdated { prompt, source: AiSource::Host, .. } if prompt == "a burning forest")
    );
}

#[tokio::test]
async fn daydream_429_and_500_are_retried_and_a_400_is_a_clear_error_with_nothing_left() {
    let dd = DaydreamStandIn::start();
    let app = TestApp::spawn_with(with_daydream(&dd.base)).await;
    let creator = app.user(Role::Creator).await;
    dd.state.script.lock().unwrap().extend([429, 500]);
    let started = std::time::Instant::now();
    let res = open_ai(&app, &creator, json!({"prompt": "retry me"})).await;
    assert_eq!(res.status(), 201);
    assert_eq!(dd.state.create_calls.load(Ordering::SeqCst), 3, "429 then 500, then created");
    assert!(started.elapsed() >= Duration::from_millis(950), "Retry-After: 1 was honoured");
    let room: Value = res.json().await.unwrap();
    app.post(&creator, &format!("/v1/rooms/{}/end", room["id"].as_str().unwrap()), json!({})).await;

    dd.state.script.lock().unwrap().push_back(400);
    let res = open_ai(&app, &creator, json!({"prompt": "flagged"})).await;
    assert_eq!(res.status(), 502);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "ai_provider_error");
    assert!(body["message"].as_str().unwrap().contains("VALIDATION/INVALID_PARAMS"), "{body}");
    assert!(body["message"].as_str().unwrap().contains("safety filter"), "{body}");
    let live: i64 =
        sqlx::query_scalar("select count(*) from rooms where status = 'live'").fetch_one(&app.t.core.db).await.unwrap();
    assert_eq!(live, 0, "no room was left behind");

    // Persistent 503s: unavailable after the retry budget.
    dd.state.script.lock().unwrap().extend([503, 503, 503]);
    let (s, c) = code_of(open_ai(&app, &creator, json!({"prompt": "down"})).await).await;
    assert_eq!((s, c.as_str()), (503, "ai_unavailable"));
    assert!(dd.state.live.lock().unwrap().is_empty());
}

#[tokio::test]
async fn the_stream_is_deleted_when_the_slots_cannot_be_created() {
    let dd = DaydreamStandIn::start();
    let lp = StandIn::start();
    *lp.state.fail_suffix.lock().unwrap() = Some("-guest".into());
    let mut s = crate::helpers::livepeer_settings(&lp.base);
    s.daydream = Some(dd_settings(&dd.base));
    let app = TestApp::spawn_with(s).await;
    let creator = app.user(Role::Creator).await;
    let res = app.post(&creator, "/v1/rooms", json!({"media": "livepeer", "ai": {"prompt": "x"}})).await;
    assert_eq!(code_of(res).await.0, 503);
    assert_eq!(dd.state.created.lock().unwrap().len(), 1);
    assert!(dd.state.live.lock().unwrap().is_empty(), "the Daydream stream was deleted again");
    let rows: i64 = sqlx::query_scalar("select count(*) from room_ai").fetch_one(&app.t.core.db).await.unwrap();
    assert_eq!(rows, 0);
}

#[tokio::test]
async fn the_client_surfaces_daydreams_refusal_of_unknown_params_and_never_logs_the_key() {
    let dd = DaydreamStandIn::start();
    let client = DaydreamClient::new(dd_settings(&dd.base)).unwrap();
    let params = json!({"model_id": "stabilityai/sd-turbo", "prompt": "x", "sharpness": 3});
    let err = client.create_stream("t", params.as_object().unwrap()).await.unwrap_err();
    match &err {
        DaydreamError::Rejected { status, code, message, .. } => {
            assert_eq!((*status, code.as_str()), (400, "VALIDATION/INVALID_PARAMS"));
            assert!(message.contains("sharpness"));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(!format!("{client:?}").contains(API_KEY));
    assert!(!format!("{:?}", dd_settings(&dd.base)).contains(API_KEY));
    let wrong = DaydreamClient::new(DaydreamSettings::new(&dd.base, "nope")).unwrap();
    let p = json!({"model_id": "stabilityai/sd-turbo", "prompt": "x"});
    assert!(matches!(
        wrong.create_stream("t", p.as_object().unwrap()).await,
        Err(DaydreamError::Rejected { status: 401, .. })
    ));
    client.delete_stream("no-such-stream").await.expect("a missing stream counts as deleted");
}

#[tokio::test]
async fn local_mode_keeps_the_same_state_and_events_without_external_calls() {
    let app = TestApp::spawn().await;
    let events = app.events().await;
    let creator = app.user(Role::Creator).await;
    let res = open_ai(&app, &creator, json!({"prompt": "watercolor", "model_id": "Lykon/dreamshaper-8"})).await;
    assert_eq!(res.status(), 201);
    let room: Value = res.json().await.unwrap();
    assert_eq!(room["ai"]["mode"], "local");
    assert_eq!(room["ai"]["model_id"], "Lykon/dreamshaper-8");
    assert!(room["ai"].get("publish").is_none() && room["ai"].get("play").is_none());
    assert!(crate::helpers::slot(&room, "host")["publish"]["whip_url"].is_string(), "the host publishes to the relay");
    let id = room["id"].as_str().unwrap();
    let res = patch_ai(&app, &creator, id, json!({"prompt": "charcoal"})).await;
    assert_eq!(res.status(), 200);
    let ev = app
        .eventually(Duration::from_secs(5), || async {
            events.on(&format!("room:{id}")).into_iter().find(|e| matches!(e, BusEvent::AiUpdated { .. }))
        })
        .await;
    assert!(matches!(ev, BusEvent::AiUpdated { prompt, .. } if prompt == "charcoal"));
    let (s, c) = code_of(open_ai(&app, &app.user(Role::Creator).await, json!({"prompt": ""})).await).await;
    assert_eq!((s, c.as_str()), (400, "invalid_input"));
}

#[tokio::test]
async fn audio_levels_are_coalesced_to_the_configured_rate_at_daydream() {
    let dd = DaydreamStandIn::start();
    let app = TestApp::spawn_with(with_daydream(&dd.base)).await;
    let creator = app.user(Role::Creator).await;
    let room: Value = open_ai(&app, &creator, json!({"prompt": "pulse"})).await.json().await.unwrap();
    let room_id: RoomId = room["id"].as_str().unwrap().parse().unwrap();
    let ai: Arc<dyn AiControl> = app.t.core.hooks.ai().expect("the broker installs AI control");
    let fan = app.user(Role::Fan).await;
    assert!(ai.audio(room_id, fan.id, 0.5, false).await.is_err(), "only the host sends audio");
    // 10 readings a second for 3 seconds.
    for i in 0..30 {
        ai.audio(room_id, creator.id, f64::from(i % 10) / 10.0, i % 5 == 0).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    let patches = dd.patches();
    assert!(patches.len() >= 4, "updates flowed: {}", patches.len());
    assert!(patches.len() <= 2 * 3 + 2, "at most 2 a second: {}", patches.len());
    for w in patches.windows(2) {
        let gap = w[1].2.duration_since(w[0].2);
        assert!(gap >= Duration::from_millis(400), "updates {gap:?} apart");
    }
    let body = &patches[0].1;
    assert_eq!(body["pipeline"], "streamdiffusion");
    let mut keys: Vec<&String> = body["params"].as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["delta", "guidance_scale", "model_id"]);
    assert!((1.0..=8.0).contains(&body["params"]["guidance_scale"].as_f64().unwrap()));
}

#[tokio::test]
async fn a_retried_apply_with_the_same_key_patches_once_in_process_and_remote() {
    let dd = DaydreamStandIn::start();
    let app = TestApp::spawn_with(with_daydream(&dd.base)).await;
    let creator = app.user(Role::Creator).await;
    let room: Value = open_ai(&app, &creator, json!({"prompt": "start"})).await.json().await.unwrap();
    let room_id: RoomId = room["id"].as_str().unwrap().parse().unwrap();
    let client = tandem_shared::contracts::InternalClient::new(
        &app.url(""),
        app.t.core.service_key.clone(),
        tandem_shared::service_auth::ServiceName::Signaling,
        tandem_shared::service_auth::ServiceName::Broker,
    )
    .unwrap();
    let remote: Arc<dyn AiControl> = Arc::new(tandem_shared::contracts::ai::RemoteAiControl::new(client));
    let local: Arc<dyn AiControl> = app.t.core.hooks.ai().unwrap();
    for (n, ai) in [local, remote].into_iter().enumerate() {
        let key = format!("round-{n}");
        let prompt = format!("winner {n}");
        let a = ai.apply_prompt(room_id, &prompt, AiSource::Vote, Some(&key)).await.unwrap();
        let b = ai.apply_prompt(room_id, &prompt, AiSource::Vote, Some(&key)).await.unwrap();
        assert_eq!(a, b);
        assert_eq!(a.prompt, prompt);
        assert_eq!(dd.patches().len(), n + 1, "one PATCH per key");
        assert_eq!(ai.ai(room_id).await.unwrap().unwrap().prompt, prompt);
        let err = ai.apply_prompt(room_id, "", AiSource::Vote, None).await.unwrap_err();
        assert!(matches!(err, tandem_shared::hooks::AiRefusal::Refused { code: "invalid_value", .. }), "{err:?}");
        assert!(ai.ai(RoomId::new()).await.unwrap().is_none());
    }
}
