use crate::helpers::{settings, Client, Cluster};
use futures_util::SinkExt;
use serde_json::json;
use tandem_shared::ids::{Role, RoomId};
use tandem_shared::rate_limit::{Class, ClassLimits, FailMode, Limit, RateLimits};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn malformed_and_unauthorized_messages_get_error_codes_and_the_socket_stays_open() {
    let c = Cluster::new().await;
    let (creator, _) = c.user(Role::Creator).await;
    let (fan, _) = c.user(Role::Fan).await;
    let (_, stranger_token) = c.user(Role::Fan).await;
    let private = c.room("private", creator, Some(fan)).await;
    let mut s = Client::connect(&c.a.ws_url(&stranger_token, "")).await;

    s.send_raw("this is not json").await;
    let r = s.next_event().await;
    assert_eq!((r["type"].as_str(), r["code"].as_str()), (Some("error"), Some("invalid_json")));
    assert!(r["request_id"].is_null());

    s.send_raw(r#"{"type":"dance","request_id":"d1"}"#).await;
    let r = s.reply_to("d1").await;
    assert_eq!(r["code"], "unknown_type");

    s.send_raw(r#"{"type":"join","request_id":"j1"}"#).await;
    assert_eq!(s.reply_to("j1").await["code"], "invalid_message");

    s.ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    assert_eq!(s.next_event().await["code"], "invalid_json");

    s.refused(json!({"type": "join", "room_id": private}), "forbidden").await;
    s.refused(json!({"type": "join", "room_id": RoomId::new()}), "room_not_found").await;
    s.refused(json!({"type": "chat", "text": "hi"}), "not_in_room").await;
    s.refused(json!({"type": "heartbeat"}), "not_in_room").await;
    s.refused(json!({"type": "offer", "to": creator, "sdp": "v=0"}), "not_in_room").await;

    let (host, _) = c.user(Role::Creator).await;
    let broadcast = c.room("broadcast", host, None).await;
    s.join(broadcast).await;
    s.refused(json!({"type": "offer", "to": host, "sdp": "v=0"}), "forbidden").await;
    s.refused(json!({"type": "chat", "text": "   "}), "invalid_value").await;
    s.refused(json!({"type": "chat", "text": "x".repeat(501)}), "too_large").await;
    s.ok(json!({"type": "chat", "text": "still connected"})).await;
}

#[tokio::test]
async fn chat_is_rate_limited_per_user() {
    // Chat limits on (everything else off); `SIGNALING_CHAT_RATE` (10 per 10 s) sets the budget.
    let mut limits = RateLimits::off();
    let on = ClassLimits { user: Some(Limit::per(1, 1)), addr: None, fail: FailMode::Open };
    limits.set(Class::WsChat, on);
    let c = Cluster::with_limits(settings("node-a"), settings("node-b"), limits).await;
    let (host, _) = c.user(Role::Creator).await;
    let (_, token) = c.user(Role::Fan).await;
    let room = c.room("broadcast", host, None).await;
    let mut on_a = Client::connect(&c.a.ws_url(&token, "")).await;
    let mut on_b = Client::connect(&c.b.ws_url(&token, "")).await;
    on_a.join(room).await;
    on_b.join(room).await;
    // The budget (10 per window) is shared by the user's sockets on every node.
    for i in 0..5 {
        on_a.ok(json!({"type": "chat", "text": format!("a{i}")})).await;
        on_b.ok(json!({"type": "chat", "text": format!("b{i}")})).await;
    }
    on_a.refused(json!({"type": "chat", "text": "one too many"}), "rate_limited").await;
}

#[tokio::test]
async fn an_oversize_frame_closes_the_socket_with_1009() {
    let c = Cluster::new().await;
    let (_, token) = c.user(Role::Fan).await;
    let mut s = Client::connect(&c.a.ws_url(&token, "")).await;
    s.send_raw(&"x".repeat(70 * 1024)).await;
    use futures_util::StreamExt;
    loop {
        match tokio::time::timeout(crate::helpers::DEADLINE, s.ws.next()).await.expect("closed in time") {
            Some(Ok(Message::Close(Some(frame)))) => {
                assert_eq!(u16::from(frame.code), 1009);
                break;
            }
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}
