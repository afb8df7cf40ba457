use crate::helpers::{Client, Cluster};
use tandem_shared::ids::Role;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Error;

async fn status_of(url: &str) -> u16 {
    match tokio_tungstenite::connect_async(url).await {
        Err(Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("{url} was upgraded"),
    }
}

#[tokio::test]
async fn a_missing_or_bad_token_is_refused_before_the_upgrade() {
    let c = Cluster::new().await;
    let base = format!("ws://{}/v1/ws", c.a.server.addr);
    assert_eq!(status_of(&base).await, 401);
    assert_eq!(status_of(&format!("{base}?access_token=not.a.jwt")).await, 401);
    assert_eq!(status_of(&format!("{base}?access_token=")).await, 401);
    let (_, token) = c.user(Role::Fan).await;
    assert_eq!(status_of(&format!("{base}?access_token={token}&resume_token=zz")).await, 400);
}

#[tokio::test]
async fn a_token_in_the_subprotocol_header_is_accepted_and_tandem_is_selected() {
    let c = Cluster::new().await;
    let (user, token) = c.user(Role::Fan).await;
    let mut req = format!("ws://{}/v1/ws", c.a.server.addr).into_client_request().unwrap();
    req.headers_mut().insert("sec-websocket-protocol", format!("tandem, bearer.{token}").parse().unwrap());
    let (mut ws, resp) = tokio_tungstenite::connect_async(req).await.expect("upgraded");
    assert_eq!(resp.headers()["sec-websocket-protocol"], "tandem");
    use futures_util::StreamExt;
    let first = ws.next().await.unwrap().unwrap();
    let v: serde_json::Value = serde_json::from_str(first.to_text().unwrap()).unwrap();
    assert_eq!(v["type"], "welcome");
    assert_eq!(v["seq"], 1);
    assert_eq!(v["user_id"], user.to_string());
    assert_eq!(v["node_id"], "node-a");
    assert_eq!(v["resume_token"].as_str().unwrap().len(), 32);
}

#[tokio::test]
async fn events_for_a_user_reach_their_sockets_on_every_node_with_increasing_seq() {
    let c = Cluster::new().await;
    let (user, token) = c.user(Role::Creator).await;
    let mut on_a = Client::connect(&c.a.ws_url(&token, "")).await;
    let mut on_b = Client::connect(&c.b.ws_url(&token, "")).await;
    let ev = tandem_shared::events::BusEvent::PrivateRequest {
        request_id: tandem_shared::ids::RequestId::new(),
        fan_id: tandem_shared::ids::UserId::new(),
        fan_handle: "somefan".into(),
        expires_at: 0,
        price_per_minute: Some(120),
    };
    let channel = tandem_shared::events::user_channel(&c.a.core.redis, user);
    tandem_shared::events::publish(&c.a.core.redis, &channel, &ev).await.unwrap();
    for client in [&mut on_a, &mut on_b] {
        let got = client.event_of("private.request").await;
        assert_eq!(got["fan_handle"], "somefan");
        assert_eq!(got["price_per_minute"], 120);
        assert_eq!(got["seq"], 2, "second event after welcome: {got}");
    }
}
