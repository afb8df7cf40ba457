use crate::helpers::{code_of, slot, TestApp};
use serde_json::{json, Value};
use std::sync::Arc;
use tandem_shared::contracts::rooms::RemoteRoomControl;
use tandem_shared::contracts::InternalClient;
use tandem_shared::hooks::{RoomControl, RoomKind};
use tandem_shared::ids::{Role, RoomId, SlotId};
use tandem_shared::media_token::MediaGrant;
use tandem_shared::service_auth::ServiceName;

#[tokio::test]
async fn creator_opens_a_broadcast_with_both_relay_slots() {
    let app = TestApp::spawn().await;
    let creator = app.user(Role::Creator).await;
    let room = app.open_room(&creator).await;
    assert_eq!(room["kind"], "broadcast");
    assert_eq!(room["status"], "live");
    assert_eq!(room["media"], "relay");
    assert_eq!(room["your_role"], "host");
    let room_id: RoomId = room["id"].as_str().unwrap().parse().unwrap();
    let host = slot(&room, "host");
    let guest = slot(&room, "guest");
    let host_slot: SlotId = host["slot_id"].as_str().unwrap().parse().unwrap();
    // The host publishes its own slot and plays the stage guest's.
    let whip = host["publish"]["whip_url"].as_str().unwrap();
    assert!(whip.ends_with(&format!("/v1/relay/whip/{host_slot}")), "{whip}");
    let token = host["publish"]["token"].as_str().unwrap();
    let now = chrono::Utc::now().timestamp();
    let claims = app.key.verify_for(token, host_slot, MediaGrant::Publish, now).expect("relay can verify");
    assert_eq!(claims.room_id, room_id);
    assert!(host.get("play").is_none());
    assert!(guest["play"]["whep_url"].as_str().unwrap().contains("/v1/relay/whep/"));
    assert!(guest.get("publish").is_none());

    // A viewer plays both slots and publishes none.
    let fan = app.user(Role::Fan).await;
    let seen: Value = app.get(&fan, &format!("/v1/rooms/{room_id}")).await.json().await.unwrap();
    assert_eq!(seen["your_role"], "viewer");
    let play_token = slot(&seen, "host")["play"]["token"].as_str().unwrap();
    app.key.verify_for(play_token, host_slot, MediaGrant::Play, now).expect("play token for the host slot");
    assert!(slot(&seen, "host").get("publish").is_none());

    // It is listed, with the viewers signaling reports.
    tandem_shared::live::set_node_viewers(&app.t.core.redis, room_id, "node-a", 7).await.unwrap();
    tandem_shared::live::set_node_viewers(&app.t.core.redis, room_id, "node-b", 5).await.unwrap();
    let list: Value = app.http.get(app.url("/v1/rooms?live=true")).send().await.unwrap().json().await.unwrap();
    let listed = &list["rooms"][0];
    assert_eq!(listed["id"], room["id"]);
    assert_eq!(listed["viewers"], 12);
    assert_eq!(listed["creator"]["id"], json!(creator.id));
    assert_eq!(listed["title"], "hello");
}

#[tokio::test]
async fn ending_is_idempotent_releases_both_slots_and_tells_the_room() {
    let app = TestApp::spawn().await;
    let events = app.events().await;
    let creator = app.user(Role::Creator).await;
    let room = app.open_room(&creator).await;
    let id = room["id"].as_str().unwrap();
    let fan = app.user(Role::Fan).await;
    assert_eq!(
        code_of(app.post(&fan, &format!("/v1/rooms/{id}/end"), json!({})).await).await,
        (403, "forbidden".into())
    );
    for _ in 0..2 {
        let res = app.post(&creator, &format!("/v1/rooms/{id}/end"), json!({})).await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["status"], "ended");
        assert_eq!(body["end_reason"], "host_ended");
        assert!(slot(&body, "host").get("publish").is_none(), "no endpoints once ended");
    }
    let released: i64 =
        sqlx::query_scalar("select count(*) from room_slots where room_id = $1::uuid and released_at is not null")
            .bind(id)
            .fetch_one(&app.t.core.db)
            .await
            .unwrap();
    assert_eq!(released, 2);
    app.eventually(std::time::Duration::from_secs(5), || async {
        (!events.on(&format!("room:{id}")).is_empty()).then_some(())
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(events.on(&format!("room:{id}")).len(), 1, "room.ended is published once");
    assert!(app.room_row(id).await.is_some_and(|(s, _)| s == "ended"));
    // Heartbeats on an ended room are refused.
    assert_eq!(
        code_of(app.post(&creator, &format!("/v1/rooms/{id}/heartbeat"), json!({})).await).await.1,
        "room_ended"
    );
    // The creator can go live again.
    app.open_room(&creator).await;
}

#[tokio::test]
async fn role_checks_on_rooms() {
    let app = TestApp::spawn().await;
    let fan = app.user(Role::Fan).await;
    let res = app.post(&fan, "/v1/rooms", json!({"title": "nope"})).await;
    assert_eq!(code_of(res).await, (403, "forbidden".into()));
    let res = app.http.post(app.url("/v1/rooms")).json(&json!({})).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let creator = app.user(Role::Creator).await;
    app.open_room(&creator).await;
    let res = app.post(&creator, "/v1/rooms", json!({})).await;
    assert_eq!(code_of(res).await, (409, "already_live".into()));
    let res = app.post(&creator, "/v1/rooms", json!({"media": "p2p"})).await;
    assert_eq!(code_of(res).await, (400, "invalid_input".into()));
    let res = app.post(&creator, "/v1/rooms", json!({"media": "livepeer"})).await;
    assert_eq!(code_of(res).await, (400, "invalid_input".into()), "livepeer is not configured");
    let res = app.get(&fan, "/v1/rooms/not-a-uuid").await;
    assert_eq!(res.status(), 400);
    let res = app.get(&fan, &format!("/v1/rooms/{}", RoomId::new())).await;
    assert_eq!(code_of(res).await, (404, "not_found".into()));
}

#[tokio::test]
async fn openapi_document_and_swagger_ui_are_served() {
    let app = TestApp::spawn().await;
    let doc: Value = app.http.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in ["/v1/rooms", "/v1/private-requests/{id}/accept", "/v1/webhooks/livepeer", "/v1/presence"] {
        assert!(doc["paths"].get(path).is_some(), "{path} documented");
    }
    let ui = app.http.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(ui.status(), 200);
}

#[tokio::test]
async fn room_control_hook_ends_once_and_ignores_viewer_heartbeats() {
    let app = TestApp::spawn().await;
    let rooms = app.t.core.hooks.rooms().expect("the broker installs room control");
    let creator = app.user(Role::Creator).await;
    let fan = app.user(Role::Fan).await;
    let room = app.open_room(&creator).await;
    let id: RoomId = room["id"].as_str().unwrap().parse().unwrap();
    rooms.heartbeat(id, creator.id).await.unwrap();
    rooms.heartbeat(id, fan.id).await.expect("a viewer's heartbeat is accepted and ignored");
    let member = tandem_shared::live::heartbeat_member(id, fan.id);
    let mut c = app.t.core.redis.conn.clone();
    let score: Option<f64> = redis::cmd("ZSCORE")
        .arg(tandem_shared::live::heartbeats_key(&app.t.core.redis))
        .arg(member)
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(score.is_none(), "viewers do not keep rooms alive");
    assert!(rooms.end_room(id, "Bad Reason!").await.is_err());
    assert!(rooms.end_room(id, "funds_exhausted").await.unwrap());
    assert!(!rooms.end_room(id, "funds_exhausted").await.unwrap());
    assert_eq!(app.room_row(&id.to_string()).await.unwrap().1.as_deref(), Some("funds_exhausted"));
    rooms.heartbeat(id, creator.id).await.expect("heartbeats after the end are ignored");
}

#[tokio::test]
async fn the_host_brings_a_viewer_on_stage_to_publish_the_guest_slot() {
    let app = TestApp::spawn().await;
    let creator = app.user(Role::Creator).await;
    let (fan, other) = (app.user(Role::Fan).await, app.user(Role::Fan).await);
    let room = app.open_room(&creator).await;
    let id = room["id"].as_str().unwrap();
    let guest_slot: SlotId = slot(&room, "guest")["slot_id"].as_str().unwrap().parse().unwrap();
    let path = format!("/v1/rooms/{id}/stage");
    assert_eq!(code_of(app.put(&fan, &path, json!({"user_id": fan.id})).await).await.0, 403);
    assert_eq!(app.put(&creator, &path, json!({"user_id": fan.id})).await.status(), 200);
    let seen: Value = app.get(&fan, &format!("/v1/rooms/{id}")).await.json().await.unwrap();
    assert_eq!(seen["your_role"], "guest");
    let token = slot(&seen, "guest")["publish"]["token"].as_str().unwrap();
    app.key.verify_for(token, guest_slot, MediaGrant::Publish, chrono::Utc::now().timestamp()).unwrap();
    let theirs: Value = app.get(&other, &format!("/v1/rooms/{id}")).await.json().await.unwrap();
    assert_eq!(theirs["your_role"], "viewer");
    assert!(slot(&theirs, "guest").get("publish").is_none());
    // The guest steps down; another viewer cannot clear the stage.
    assert_eq!(code_of(app.http.delete(app.url(&path)).bearer_auth(&other.token).send().await.unwrap()).await.0, 403);
    assert_eq!(app.http.delete(app.url(&path)).bearer_auth(&fan.token).send().await.unwrap().status(), 204);
    let seen: Value = app.get(&fan, &format!("/v1/rooms/{id}")).await.json().await.unwrap();
    assert_eq!(seen["your_role"], "viewer");
}

#[tokio::test]
async fn ending_a_relay_room_tells_relays_its_slots_are_released() {
    use futures_util::StreamExt;
    use tandem_shared::slot_release::{is_released, release_channel, released_key, SlotRelease};

    let app = TestApp::spawn().await;
    let redis = &app.t.core.redis;
    let mut pubsub = redis.client.get_async_pubsub().await.unwrap();
    pubsub.subscribe(release_channel(redis)).await.unwrap();
    let mut messages = pubsub.into_on_message();

    let creator = app.user(Role::Creator).await;
    let room = app.open_room(&creator).await;
    let room_id: RoomId = room["id"].as_str().unwrap().parse().unwrap();
    let mut slots: Vec<SlotId> =
        ["host", "guest"].iter().map(|n| slot(&room, n)["slot_id"].as_str().unwrap().parse().unwrap()).collect();
    for s in &slots {
        assert!(!is_released(redis, *s).await.unwrap(), "a live room's slots are not released");
    }
    assert_eq!(app.post(&creator, &format!("/v1/rooms/{room_id}/end"), json!({})).await.status(), 200);

    let msg = tokio::time::timeout(std::time::Duration::from_secs(5), messages.next())
        .await
        .expect("a release is published")
        .expect("pub/sub stream open");
    let mut release: SlotRelease = serde_json::from_str(&msg.get_payload::<String>().unwrap()).unwrap();
    release.slot_ids.sort();
    slots.sort();
    assert_eq!(release, SlotRelease { room_id, slot_ids: slots.clone(), generation: None, user_id: None });
    let mut conn = redis.conn.clone();
    for s in &slots {
        assert!(is_released(redis, *s).await.unwrap());
        let ttl: i64 = redis::cmd("TTL").arg(released_key(redis, *s)).query_async(&mut conn).await.unwrap();
        let token_ttl = crate::helpers::settings().media_token_ttl.as_secs() as i64;
        assert!(ttl >= token_ttl, "the marker outlives the tokens: {ttl} < {token_ttl}");
    }
}

/// The broker's room control as another service in this process sees it.
fn in_process(app: &TestApp) -> Arc<dyn RoomControl> {
    app.t.core.hooks.rooms().expect("the broker installs room control")
}

/// The broker's room control as another process sees it: internal HTTP, as signaling.
fn remote(app: &TestApp) -> Arc<dyn RoomControl> {
    remote_as(app, ServiceName::Signaling)
}

fn remote_as(app: &TestApp, caller: ServiceName) -> Arc<dyn RoomControl> {
    let client =
        InternalClient::new(&app.url(""), app.t.core.service_key.clone(), caller, ServiceName::Broker).unwrap();
    Arc::new(RemoteRoomControl::new(client))
}

#[tokio::test]
async fn room_control_hands_the_guest_slot_to_whoever_accepts_the_stage_in_process() {
    let app = TestApp::spawn().await;
    stage_contract(&app, in_process(&app)).await;
}

#[tokio::test]
async fn room_control_hands_the_guest_slot_to_whoever_accepts_the_stage_remote() {
    let app = TestApp::spawn().await;
    stage_contract(&app, remote(&app)).await;
}

async fn stage_contract(app: &TestApp, rooms: Arc<dyn RoomControl>) {
    let creator = app.user(Role::Creator).await;
    let (fan, other) = (app.user(Role::Fan).await, app.user(Role::Fan).await);
    let room = app.open_room(&creator).await;
    let id: RoomId = room["id"].as_str().unwrap().parse().unwrap();
    let role_of = |user: &crate::helpers::User| {
        let (app, token) = (app, user.token.clone());
        async move {
            let seen: Value = app
                .http
                .get(app.url(&format!("/v1/rooms/{id}")))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (seen["your_role"].as_str().unwrap().to_string(), slot(&seen, "guest").get("publish").is_some())
        }
    };

    rooms.set_stage(id, Some(fan.id)).await.unwrap();
    assert_eq!(role_of(&fan).await, ("guest".to_string(), true));
    assert!(rooms.set_stage(id, Some(creator.id)).await.is_err(), "the host is not a stage guest");
    // Someone else accepts: the stage moves, and the first user leaving later does not clear it.
    rooms.set_stage(id, Some(other.id)).await.unwrap();
    assert_eq!(role_of(&fan).await, ("viewer".to_string(), false));
    rooms.leave_stage(id, fan.id).await.unwrap();
    assert_eq!(role_of(&other).await, ("guest".to_string(), true));
    rooms.leave_stage(id, other.id).await.unwrap();
    assert_eq!(role_of(&other).await, ("viewer".to_string(), false));
    rooms.set_stage(id, Some(fan.id)).await.unwrap();
    rooms.set_stage(id, None).await.unwrap();
    assert_eq!(role_of(&fan).await, ("viewer".to_string(), false));

    assert!(rooms.end_room(id, "host_ended").await.unwrap());
    assert!(rooms.set_stage(id, Some(fan.id)).await.is_err(), "an ended room has no stage");
    assert!(rooms.set_stage(RoomId::new(), Some(fan.id)).await.is_err(), "unknown room");
}

#[tokio::test]
async fn room_control_describes_and_ends_rooms_exactly_once_in_process() {
    let app = TestApp::spawn().await;
    end_contract(&app, in_process(&app), in_process(&app)).await;
}

#[tokio::test]
async fn room_control_describes_and_ends_rooms_exactly_once_remote() {
    let app = TestApp::spawn().await;
    end_contract(&app, remote(&app), remote_as(&app, ServiceName::Relay)).await;
}

/// `relay` is how the relay sees room control (it alone asks about slots).
async fn end_contract(app: &TestApp, rooms: Arc<dyn RoomControl>, relay: Arc<dyn RoomControl>) {
    let events = app.events().await;
    let creator = app.user(Role::Creator).await;
    let room = app.open_room(&creator).await;
    let id: RoomId = room["id"].as_str().unwrap().parse().unwrap();

    let seen = rooms.room(id).await.unwrap().expect("the room is known");
    assert_eq!((seen.kind, seen.live, seen.host_id, seen.guest_id), (RoomKind::Broadcast, true, creator.id, None));
    assert!(seen.ended_at.is_none());
    assert!(rooms.room(RoomId::new()).await.unwrap().is_none(), "an unknown room is None");
    rooms.heartbeat(id, creator.id).await.unwrap();
    let slots: Vec<SlotId> =
        room["slots"].as_array().unwrap().iter().map(|s| s["slot_id"].as_str().unwrap().parse().unwrap()).collect();
    assert_eq!(slots.len(), 2);
    let unknown = SlotId::new();
    let asked = [slots[0], slots[1], unknown];
    assert_eq!(relay.released_slots(&asked).await.unwrap(), vec![unknown], "only the unknown slot, while live");

    assert!(rooms.end_room(id, "funds_exhausted").await.unwrap());
    assert!(!rooms.end_room(id, "funds_exhausted").await.unwrap(), "exactly once");
    assert_eq!(app.room_row(&id.to_string()).await, Some(("ended".into(), Some("funds_exhausted".into()))));
    let seen = rooms.room(id).await.unwrap().expect("the room is known");
    assert!(!seen.live && seen.ended_at.is_some(), "the end is visible: {seen:?}");
    let mut released = relay.released_slots(&asked).await.unwrap();
    released.sort();
    let mut all = asked.to_vec();
    all.sort();
    assert_eq!(released, all, "every slot of the ended room is released");
    app.eventually(std::time::Duration::from_secs(5), || async {
        (!events.on(&format!("room:{id}")).is_empty()).then_some(())
    })
    .await;
    let released: i64 =
        sqlx::query_scalar("select count(*) from room_slots where room_id = $1 and released_at is not null")
            .bind(id)
            .fetch_one(&app.t.core.db)
            .await
            .unwrap();
    assert_eq!(released, 2, "both slots are released");
}

#[tokio::test]
async fn internal_routes_take_only_service_tokens_of_allowed_services() {
    let app = TestApp::spawn().await;
    let creator = app.user(Role::Creator).await;
    let room = app.open_room(&creator).await;
    let id = room["id"].as_str().unwrap().to_string();
    let url = app.url(&format!("/internal/v1/rooms/{id}"));
    let res = app.http.get(&url).send().await.unwrap();
    assert_eq!(code_of(res).await, (401, "unauthenticated".into()), "no token");
    let res = app.http.get(&url).bearer_auth(&creator.token).send().await.unwrap();
    assert_eq!(code_of(res).await, (401, "unauthenticated".into()), "a user's access token is not a service token");
    let forged = tandem_shared::service_auth::ServiceKey::generate().mint(ServiceName::Signaling).unwrap();
    let res = app.http.get(&url).bearer_auth(forged).send().await.unwrap();
    assert_eq!(code_of(res).await, (401, "unauthenticated".into()), "another secret");
    // Billing may read a room but not move the stage.
    let billing = app.t.core.service_key.mint(ServiceName::Billing).unwrap();
    let res = app.http.get(&url).bearer_auth(&billing).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .http
        .put(format!("{url}/stage"))
        .bearer_auth(&billing)
        .json(&json!({"user_id": creator.id}))
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(res).await, (403, "forbidden".into()));
}

#[tokio::test]
async fn room_control_reports_policies_moderates_and_answers_bans_in_process() {
    let app = TestApp::spawn().await;
    let audit = app.t.core.hooks.audit().expect("the broker installs the audit log");
    moderation_contract(&app, in_process(&app), in_process(&app), audit).await;
}

#[tokio::test]
async fn room_control_reports_policies_moderates_and_answers_bans_remote() {
    let app = TestApp::spawn().await;
    let client =
        InternalClient::new(&app.url(""), app.t.core.service_key.clone(), ServiceName::Billing, ServiceName::Broker)
            .unwrap();
    let audit = Arc::new(tandem_shared::contracts::audit::RemoteAuditLog::new(client));
    moderation_contract(&app, remote(&app), remote_as(&app, ServiceName::Relay), audit).await;
}

/// The safety half of room control (`policy`, `moderate`, `banned_on_slot`) and the audit log,
/// the same through either implementation.
async fn moderation_contract(
    app: &TestApp,
    rooms: Arc<dyn RoomControl>,
    relay: Arc<dyn RoomControl>,
    audit: Arc<dyn tandem_shared::audit::AuditLog>,
) {
    use tandem_shared::audit::{Actor, AuditAction, AuditEntry};
    use tandem_shared::moderation::{ModAction, ModerationRefusal, ModerationRequest};
    let creator = app.user(Role::Creator).await;
    let fan = app.user(Role::Fan).await;
    let loud = app.user(Role::Fan).await;
    let room = app.open_room(&creator).await;
    let id: RoomId = room["id"].as_str().unwrap().parse().unwrap();
    let slot0: SlotId = room["slots"][0]["slot_id"].as_str().unwrap().parse().unwrap();

    let policy = rooms.policy(id, Some(fan.id)).await.unwrap().expect("a known room");
    assert_eq!((policy.host_id, policy.banned, policy.slow_mode_secs), (creator.id, false, 0));
    assert!(rooms.policy(RoomId::new(), None).await.unwrap().is_none());
    assert!(!relay.banned_on_slot(slot0, fan.id).await.unwrap());

    let req = |actor, target, action, reason: &str, minutes| ModerationRequest {
        room_id: id,
        actor,
        target,
        action,
        reason: reason.into(),
        minutes,
        second_factor: false,
    };
    rooms.moderate(req(creator.id, fan.id, ModAction::Ban, "spam", None)).await.unwrap();
    assert!(rooms.policy(id, Some(fan.id)).await.unwrap().unwrap().banned);
    assert!(relay.banned_on_slot(slot0, fan.id).await.unwrap());
    assert!(!relay.banned_on_slot(slot0, creator.id).await.unwrap(), "the host is never banned in their room");
    rooms.moderate(req(creator.id, loud.id, ModAction::Mute, "caps lock", Some(5))).await.unwrap();
    let policy = rooms.policy(id, None).await.unwrap().unwrap();
    assert!(policy.is_muted(loud.id, chrono::Utc::now()));
    assert!(!policy.banned, "no user asked about");

    let refused = |r: Result<(), ModerationRefusal>| match r {
        Err(ModerationRefusal::Refused { code, .. }) => code,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert_eq!(refused(rooms.moderate(req(loud.id, fan.id, ModAction::Kick, "me too", None)).await), "forbidden");
    assert_eq!(refused(rooms.moderate(req(creator.id, fan.id, ModAction::Kick, " ", None)).await), "invalid_value");
    let unknown = ModerationRequest { room_id: RoomId::new(), ..req(creator.id, fan.id, ModAction::Kick, "x", None) };
    assert_eq!(refused(rooms.moderate(unknown).await), "not_found");
    rooms.moderate(req(creator.id, fan.id, ModAction::Unban, "second chance", None)).await.unwrap();
    assert!(!relay.banned_on_slot(slot0, fan.id).await.unwrap());

    audit
        .record(AuditEntry {
            actor: Actor::User { user_id: creator.id },
            action: AuditAction::PayoutExecuted,
            target_user: Some(creator.id),
            room_id: None,
            reason: "contract".into(),
            service: "billing".into(),
            details: json!({"idempotency_key": format!("contract:{id}")}),
        })
        .await
        .unwrap();
    let rows: Vec<(String, String)> = sqlx::query_as(
        "select action, reason from audit_log where room_id = $1 or reason = 'contract' order by audit_id",
    )
    .bind(id)
    .fetch_all(&app.t.core.db)
    .await
    .unwrap();
    let actions: Vec<&str> = rows.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(actions, vec!["ban", "mute", "unban", "payout_executed"], "{rows:?}");
    // Append-only.
    assert!(sqlx::query("delete from audit_log").execute(&app.t.core.db).await.is_err());
}
