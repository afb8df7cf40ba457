use crate::helpers::{Client, Cluster};
use serde_json::json;
use tandem_shared::ids::Role;

#[tokio::test]
async fn a_resumed_socket_gets_missed_events_in_order_once_and_the_peer_sees_no_flap() {
    let c = Cluster::new().await;
    let (creator, creator_token) = c.user(Role::Creator).await;
    let (fan, fan_token) = c.user(Role::Fan).await;
    let room = c.room("private", creator, Some(fan)).await;
    let mut k = Client::connect(&c.b.ws_url(&creator_token, "")).await;
    let mut f = Client::connect(&c.a.ws_url(&fan_token, "")).await;
    k.join(room).await;
    f.join(room).await;
    k.ok(json!({"type": "chat", "text": "one"})).await;
    let seen = f.until_chat("one", &["chat"]).await;
    let last_seq = seen[0]["room_seq"].as_u64().unwrap();
    k.until_chat("one", &[]).await;

    // The fan's connection drops without a close frame.
    let token = f.resume_token();
    drop(f);
    for text in ["two", "three", "four"] {
        k.ok(json!({"type": "chat", "text": text})).await;
    }

    // It comes back on the other node.
    let url = c.b.ws_url(&fan_token, &format!("&resume_token={token}&last_seq={last_seq}"));
    let mut f = Client::connect(&url).await;
    assert_eq!(f.welcome["resumed"], true, "{}", f.welcome);
    assert_eq!(f.welcome["room_id"], room.to_string());
    k.ok(json!({"type": "chat", "text": "five"})).await;
    let chats = f.until_chat("five", &["chat", "member.joined", "member.left"]).await;
    let texts: Vec<_> = chats.iter().map(|c| c["text"].as_str().unwrap_or("-").to_string()).collect();
    assert_eq!(texts, ["two", "three", "four", "five"]);
    let seqs: Vec<u64> = chats.iter().map(|c| c["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "per-connection seq increases: {seqs:?}");

    // Still a member: it can signal its peer.
    f.ok(json!({"type": "chat", "text": "back"})).await;
    let peer_view = k.until_chat("back", &["member.joined", "member.left"]).await;
    assert!(peer_view.is_empty(), "the creator saw the fan leave or join: {peer_view:?}");

    // The token was used up.
    let again = c.a.ws_url(&fan_token, &format!("&resume_token={token}&last_seq=0"));
    let other = Client::connect(&again).await;
    assert_eq!(other.welcome["resumed"], false);
}

#[tokio::test]
async fn a_resume_token_of_another_user_does_not_resume() {
    let c = Cluster::new().await;
    let (creator, creator_token) = c.user(Role::Creator).await;
    let (fan, fan_token) = c.user(Role::Fan).await;
    let room = c.room("private", creator, Some(fan)).await;
    let mut f = Client::connect(&c.a.ws_url(&fan_token, "")).await;
    f.join(room).await;
    let token = f.resume_token();
    drop(f);
    let thief = Client::connect(&c.b.ws_url(&creator_token, &format!("&resume_token={token}"))).await;
    assert_eq!(thief.welcome["resumed"], false);
}
