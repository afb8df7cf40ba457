use crate::helpers::{code_of, settings, slot, TestApp};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tandem_shared::events::BusEvent;
use tandem_shared::hooks::{PaymentGate, PaymentRefusal, PriceQuote};
use tandem_shared::ids::{Role, RoomId, SlotId, UserId};
use tandem_shared::media_token::MediaGrant;

#[tokio::test]
async fn private_flow_hands_each_side_its_publish_and_the_others_play() {
    let app = TestApp::spawn().await;
    let events = app.events().await;
    let creator = app.creator_online().await;
    let fan = app.user(Role::Fan).await;

    let rid = app.request_id(&fan, &creator).await;
    app.eventually(Duration::from_secs(5), || async {
        events.on(&format!("user:{}", creator.id)).into_iter().find_map(|e| match e {
            BusEvent::PrivateRequest { request_id, fan_id, .. }
                if request_id.to_string() == rid && fan_id == fan.id =>
            {
                Some(())
            }
            _ => None,
        })
    })
    .await;
    let listed: Value = app.get(&creator, "/v1/private-requests").await.json().await.unwrap();
    assert_eq!(listed["requests"][0]["id"], rid.as_str());

    let res = app.post(&creator, &format!("/v1/private-requests/{rid}/accept"), json!({})).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["request"]["status"], "accepted");
    let room = &body["room"];
    let room_id = room["id"].as_str().unwrap().to_string();
    assert_eq!(room["kind"], "private");
    assert_eq!(room["guest_id"], json!(fan.id));
    let now = chrono::Utc::now().timestamp();
    let host_slot: SlotId = slot(room, "host")["slot_id"].as_str().unwrap().parse().unwrap();
    let guest_slot: SlotId = slot(room, "guest")["slot_id"].as_str().unwrap().parse().unwrap();
    let t = slot(room, "host")["publish"]["token"].as_str().unwrap();
    app.key.verify_for(t, host_slot, MediaGrant::Publish, now).unwrap();
    let t = slot(room, "guest")["play"]["token"].as_str().unwrap();
    app.key.verify_for(t, guest_slot, MediaGrant::Play, now).unwrap();

    // The fan is told, and sees the mirror image.
    app.eventually(Duration::from_secs(5), || async {
        events.on(&format!("user:{}", fan.id)).into_iter().find_map(|e| match e {
            BusEvent::PrivateAccepted { room_id: r, .. } if r.to_string() == room_id => Some(()),
            _ => None,
        })
    })
    .await;
    let req: Value = app.get(&fan, &format!("/v1/private-requests/{rid}")).await.json().await.unwrap();
    assert_eq!(req["room_id"], room_id.as_str());
    let mine: Value = app.get(&fan, &format!("/v1/rooms/{room_id}")).await.json().await.unwrap();
    assert_eq!(mine["your_role"], "guest");
    let t = slot(&mine, "guest")["publish"]["token"].as_str().unwrap();
    app.key.verify_for(t, guest_slot, MediaGrant::Publish, now).unwrap();
    let t = slot(&mine, "host")["play"]["token"].as_str().unwrap();
    app.key.verify_for(t, host_slot, MediaGrant::Play, now).unwrap();

    // Nobody else sees it; it is not in the public list.
    let other = app.user(Role::Fan).await;
    assert_eq!(code_of(app.get(&other, &format!("/v1/rooms/{room_id}")).await).await, (404, "not_found".into()));
    assert_eq!(code_of(app.get(&other, &format!("/v1/private-requests/{rid}")).await).await.0, 404);
    assert_eq!(code_of(app.post(&other, &format!("/v1/rooms/{room_id}/end"), json!({})).await).await.0, 404);
    let list: Value = app.http.get(app.url("/v1/rooms?live=true")).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["rooms"].as_array().unwrap().len(), 0);

    // Busy while in session.
    let presence: Value = app.get(&fan, &format!("/v1/presence/{}", creator.id)).await.json().await.unwrap();
    assert_eq!(presence["status"], "busy");
    assert_eq!(app.post(&fan, &format!("/v1/rooms/{room_id}/heartbeat"), json!({})).await.status(), 204);
    assert_eq!(app.post(&creator, &format!("/v1/rooms/{room_id}/heartbeat"), json!({})).await.status(), 204);
    assert_eq!(code_of(app.post(&other, &format!("/v1/rooms/{room_id}/heartbeat"), json!({})).await).await.0, 404);

    // The fan hangs up: lock freed, creator online again.
    let ended: Value = app.post(&fan, &format!("/v1/rooms/{room_id}/end"), json!({})).await.json().await.unwrap();
    assert_eq!(ended["end_reason"], "guest_ended");
    let presence: Value = app.get(&fan, &format!("/v1/presence/{}", creator.id)).await.json().await.unwrap();
    assert_eq!(presence["status"], "online");
}

#[tokio::test]
async fn two_concurrent_accepts_exactly_one_wins() {
    let app = TestApp::spawn().await;
    let creator = app.creator_online().await;
    let (f1, f2) = (app.user(Role::Fan).await, app.user(Role::Fan).await);
    let r1 = app.request_id(&f1, &creator).await;
    let r2 = app.request_id(&f2, &creator).await;
    let p1 = format!("/v1/private-requests/{r1}/accept");
    let p2 = format!("/v1/private-requests/{r2}/accept");
    let (a, b) = tokio::join!(app.post(&creator, &p1, json!({})), app.post(&creator, &p2, json!({})));
    let mut results = vec![a.status().as_u16(), b.status().as_u16()];
    let loser = if a.status() == 200 { b } else { a };
    results.sort();
    assert_eq!(results, vec![200, 409]);
    assert_eq!(code_of(loser).await.1, "creator_busy");
    let live: i64 =
        sqlx::query_scalar("select count(*) from rooms where status = 'live'").fetch_one(&app.t.core.db).await.unwrap();
    assert_eq!(live, 1);

    // The same request accepted twice at once: one room.
    let c2 = app.creator_online().await;
    let f3 = app.user(Role::Fan).await;
    let r3 = app.request_id(&f3, &c2).await;
    let p3 = format!("/v1/private-requests/{r3}/accept");
    let (a, b) = tokio::join!(app.post(&c2, &p3, json!({})), app.post(&c2, &p3, json!({})));
    let mut results = vec![a.status().as_u16(), b.status().as_u16()];
    results.sort();
    assert_eq!(results, vec![200, 409]);
    let rooms: i64 = sqlx::query_scalar("select count(*) from rooms where host_id = $1")
        .bind(c2.id)
        .fetch_one(&app.t.core.db)
        .await
        .unwrap();
    assert_eq!(rooms, 1);
}

#[tokio::test]
async fn role_checks_on_requests() {
    let app = TestApp::spawn().await;
    let creator = app.creator_online().await;
    let other_creator = app.creator_online().await;
    let fan = app.user(Role::Fan).await;
    let rid = app.request_id(&fan, &creator).await;
    // Another creator cannot accept or decline it; it does not exist for them.
    for action in ["accept", "decline"] {
        let res = app.post(&other_creator, &format!("/v1/private-requests/{rid}/{action}"), json!({})).await;
        assert_eq!(code_of(res).await, (404, "not_found".into()), "{action}");
    }
    // A fan cannot accept; a creator cannot request or cancel.
    let res = app.post(&fan, &format!("/v1/private-requests/{rid}/accept"), json!({})).await;
    assert_eq!(code_of(res).await, (403, "forbidden".into()));
    let res = app.request(&other_creator, &creator).await;
    assert_eq!(code_of(res).await, (403, "forbidden".into()));
    let res = app.post(&creator, &format!("/v1/private-requests/{rid}/cancel"), json!({})).await;
    assert_eq!(code_of(res).await, (403, "forbidden".into()));
    // Another fan cannot cancel it; a fan cannot set presence.
    let other_fan = app.user(Role::Fan).await;
    let res = app.post(&other_fan, &format!("/v1/private-requests/{rid}/cancel"), json!({})).await;
    assert_eq!(code_of(res).await, (404, "not_found".into()));
    let res = app.put(&fan, "/v1/presence", json!({"status": "online"})).await;
    assert_eq!(res.status(), 403);
    // A request to a fan or an unknown user is a 404.
    assert_eq!(code_of(app.request(&fan, &other_fan).await).await.0, 404);
    // One pending request per fan and creator.
    assert_eq!(code_of(app.request(&fan, &creator).await).await, (409, "request_pending".into()));
    // The fan cancels; it can no longer be accepted.
    assert_eq!(app.post(&fan, &format!("/v1/private-requests/{rid}/cancel"), json!({})).await.status(), 200);
    let res = app.post(&creator, &format!("/v1/private-requests/{rid}/accept"), json!({})).await;
    assert_eq!(code_of(res).await, (409, "request_not_pending".into()));
}

#[tokio::test]
async fn offline_away_and_busy_creators_refuse_requests() {
    let app = TestApp::spawn().await;
    let creator = app.user(Role::Creator).await;
    let fan = app.user(Role::Fan).await;
    assert_eq!(code_of(app.request(&fan, &creator).await).await, (409, "creator_offline".into()));
    app.put(&creator, "/v1/presence", json!({"status": "away"})).await;
    assert_eq!(code_of(app.request(&fan, &creator).await).await, (409, "creator_away".into()));
    app.put(&creator, "/v1/presence", json!({"status": "online"})).await;
    let rid = app.request_id(&fan, &creator).await;
    assert_eq!(app.post(&creator, &format!("/v1/private-requests/{rid}/accept"), json!({})).await.status(), 200);
    let fan2 = app.user(Role::Fan).await;
    assert_eq!(code_of(app.request(&fan2, &creator).await).await, (409, "creator_busy".into()));
    app.put(&creator, "/v1/presence", json!({"status": "offline"})).await;
    let presence: Value = app.get(&fan, &format!("/v1/presence/{}", creator.id)).await.json().await.unwrap();
    assert_eq!(presence["status"], "busy", "busy wins over the presence the creator set");
    let res = app.put(&creator, "/v1/presence", json!({"status": "invisible"})).await;
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn requests_expire_and_both_sides_are_told() {
    let mut s = settings();
    s.request_ttl = Duration::from_secs(1);
    let app = TestApp::spawn_with(s).await;
    let events = app.events().await;
    let creator = app.creator_online().await;
    let fan = app.user(Role::Fan).await;
    let rid = app.request_id(&fan, &creator).await;
    let path = format!("/v1/private-requests/{rid}");
    app.eventually(Duration::from_secs(5), || async {
        let body: Value = app.get(&fan, &path).await.json().await.unwrap();
        (body["status"] == "expired").then_some(())
    })
    .await;
    let res = app.post(&creator, &format!("{path}/accept"), json!({})).await;
    assert_eq!(code_of(res).await, (409, "request_not_pending".into()));
    for user in [fan.id, creator.id] {
        app.eventually(Duration::from_secs(5), || async {
            events.on(&format!("user:{user}")).into_iter().find_map(|e| match e {
                BusEvent::PrivateDeclined { reason, .. } if reason == "expired" => Some(()),
                _ => None,
            })
        })
        .await;
    }
    // Expired requests do not block a new one.
    app.request_id(&fan, &creator).await;
}

#[tokio::test]
async fn p2p_private_rooms_have_slots_but_no_provider_endpoints() {
    let app = TestApp::spawn().await;
    let creator = app.creator_online().await;
    let fan = app.user(Role::Fan).await;
    let res = app.post(&fan, "/v1/private-requests", json!({"creator_id": creator.id, "media": "p2p"})).await;
    assert_eq!(res.status(), 201);
    let rid = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let body: Value =
        app.post(&creator, &format!("/v1/private-requests/{rid}/accept"), json!({})).await.json().await.unwrap();
    let room = &body["room"];
    assert_eq!(room["media"], "p2p");
    assert_eq!(room["slots"].as_array().unwrap().len(), 2);
    for name in ["host", "guest"] {
        assert!(slot(room, name).get("publish").is_none() && slot(room, name).get("play").is_none());
    }
}

#[tokio::test]
async fn declines_are_delivered_to_the_fan() {
    let app = TestApp::spawn().await;
    let events = app.events().await;
    let creator = app.creator_online().await;
    let fan = app.user(Role::Fan).await;
    let rid = app.request_id(&fan, &creator).await;
    let res = app.post(&creator, &format!("/v1/private-requests/{rid}/decline"), json!({})).await;
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "declined");
    app.eventually(Duration::from_secs(5), || async {
        events.on(&format!("user:{}", fan.id)).into_iter().find_map(|e| match e {
            BusEvent::PrivateDeclined { reason, .. } if reason == "declined" => Some(()),
            _ => None,
        })
    })
    .await;
    let res = app.post(&creator, &format!("/v1/private-requests/{rid}/decline"), json!({})).await;
    assert_eq!(code_of(res).await, (409, "request_not_pending".into()));
}

/// A payment gate that refuses fans named in `broke` and counts calls.
#[derive(Default)]
struct Gate {
    broke: std::sync::Mutex<Vec<UserId>>,
    started: AtomicUsize,
    ended: std::sync::Mutex<Vec<RoomId>>,
}

#[async_trait::async_trait]
impl PaymentGate for Gate {
    async fn quote_private(&self, fan: UserId, _creator: UserId) -> Result<Option<PriceQuote>, PaymentRefusal> {
        if self.broke.lock().unwrap().contains(&fan) {
            return Err(PaymentRefusal::InsufficientFunds { needed: 199, available: 5 });
        }
        Ok(Some(PriceQuote { price_per_minute: 199, currency: "usd" }))
    }
    async fn start_private(
        &self,
        _room: RoomId,
        _fan: UserId,
        _creator: UserId,
        _started_at: chrono::DateTime<chrono::Utc>,
        price_per_minute: i64,
    ) -> Result<(), PaymentRefusal> {
        assert_eq!(price_per_minute, 199, "the quoted price is what billing is asked to charge");
        self.started.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    async fn end_private(&self, room: RoomId) -> anyhow::Result<()> {
        self.ended.lock().unwrap().push(room);
        Ok(())
    }
}

#[tokio::test]
async fn payment_gate_quotes_refuses_starts_and_settles() {
    let app = TestApp::spawn().await;
    let gate = Arc::new(Gate::default());
    app.t.core.hooks.set_payment(gate.clone());
    let creator = app.creator_online().await;
    let broke = app.user(Role::Fan).await;
    gate.broke.lock().unwrap().push(broke.id);
    assert_eq!(code_of(app.request(&broke, &creator).await).await, (402, "insufficient_funds".into()));

    let fan = app.user(Role::Fan).await;
    let res = app.request(&fan, &creator).await;
    let req: Value = res.json().await.unwrap();
    assert_eq!(req["price_per_minute"], 199);
    let rid = req["id"].as_str().unwrap();
    let body: Value =
        app.post(&creator, &format!("/v1/private-requests/{rid}/accept"), json!({})).await.json().await.unwrap();
    assert_eq!(gate.started.load(Ordering::SeqCst), 1);
    let room_id: RoomId = body["room"]["id"].as_str().unwrap().parse().unwrap();
    app.post(&creator, &format!("/v1/rooms/{room_id}/end"), json!({})).await;
    app.post(&creator, &format!("/v1/rooms/{room_id}/end"), json!({})).await;
    assert_eq!(*gate.ended.lock().unwrap(), vec![room_id], "settled once");
}

#[tokio::test]
async fn accepting_while_broadcasting_ends_the_broadcast() {
    let app = TestApp::spawn().await;
    let creator = app.creator_online().await;
    let broadcast = app.open_room(&creator).await;
    let fan = app.user(Role::Fan).await;
    let rid = app.request_id(&fan, &creator).await;
    let res = app.post(&creator, &format!("/v1/private-requests/{rid}/accept"), json!({})).await;
    assert_eq!(res.status(), 200);
    let id = broadcast["id"].as_str().unwrap();
    assert_eq!(app.room_row(id).await.unwrap(), ("ended".to_string(), Some("went_private".to_string())));
}
