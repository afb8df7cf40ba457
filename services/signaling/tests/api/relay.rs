use crate::helpers::{Client, Cluster};
use serde_json::json;
use tandem_shared::ids::Role;

const SDP: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";

#[tokio::test]
async fn fan_and_creator_on_different_nodes_exchange_offer_answer_and_candidates() {
    let c = Cluster::new().await;
    let (creator, creator_token) = c.user(Role::Creator).await;
    let (fan, fan_token) = c.user(Role::Fan).await;
    let room = c.room("private", creator, Some(fan)).await;
    let mut f = Client::connect(&c.a.ws_url(&fan_token, "")).await;
    let mut k = Client::connect(&c.b.ws_url(&creator_token, "")).await;

    let ack = f.join(room).await;
    assert_eq!(ack["data"]["role"], "guest");
    assert_eq!(ack["data"]["kind"], "private");
    k.join(room).await;
    let joined = f.event_of("member.joined").await;
    let joined = if joined["user_id"] == fan.to_string() { f.event_of("member.joined").await } else { joined };
    assert_eq!(joined["user_id"], creator.to_string());
    assert_eq!(joined["role"], "host");

    f.ok(json!({"type": "offer", "to": creator, "sdp": SDP})).await;
    let offer = k.event_of("offer").await;
    assert_eq!(offer["from"], fan.to_string());
    assert_eq!(offer["sdp"], SDP);
    assert_eq!(offer["room_id"], room.to_string());

    k.ok(json!({"type": "answer", "to": fan, "sdp": SDP})).await;
    let answer = f.event_of("answer").await;
    assert_eq!(answer["from"], creator.to_string());

    let cand =
        json!({"candidate": "candidate:1 1 udp 2122260223 10.0.0.1 50000 typ host", "sdpMid": "0", "sdpMLineIndex": 0});
    k.ok(json!({"type": "candidate", "to": fan, "candidate": cand})).await;
    f.ok(json!({"type": "candidate", "to": creator, "candidate": cand})).await;
    assert_eq!(f.event_of("candidate").await["candidate"], cand);
    assert_eq!(k.event_of("candidate").await["candidate"], cand);
}

#[tokio::test]
async fn offers_go_only_to_the_other_participant() {
    let c = Cluster::new().await;
    let (creator, _) = c.user(Role::Creator).await;
    let (fan, fan_token) = c.user(Role::Fan).await;
    let (stranger, _) = c.user(Role::Fan).await;
    let room = c.room("private", creator, Some(fan)).await;
    let mut f = Client::connect(&c.a.ws_url(&fan_token, "")).await;
    f.refused(json!({"type": "offer", "to": creator, "sdp": SDP}), "not_in_room").await;
    f.join(room).await;
    f.refused(json!({"type": "offer", "to": stranger, "sdp": SDP}), "forbidden").await;
    f.refused(json!({"type": "offer", "to": fan, "sdp": SDP}), "forbidden").await;
    let big = format!("{SDP}{}", "a=x\r\n".repeat(4000));
    f.refused(json!({"type": "offer", "to": creator, "sdp": big}), "too_large").await;
    f.refused(json!({"type": "answer", "to": creator, "sdp": "hello"}), "invalid_value").await;
    let long = json!({"candidate": "c".repeat(2000)});
    f.refused(json!({"type": "candidate", "to": creator, "candidate": long}), "too_large").await;
}
