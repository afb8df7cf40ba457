//! TURN credentials handed to WHIP/WHEP clients are short-lived and bound to the user the media
//! token names (TURN REST API: `<expiry>:<user>`, base64 HMAC-SHA1 with the shared secret).

use crate::helpers::{chrono_now, Player, Publisher, TestRelay};
use base64::Engine;
use hmac::Mac;
use tandem_relay::settings::parse_ice_servers;
use tandem_relay::turn::TurnSecret;
use tandem_shared::ids::{SlotId, UserId};
use tandem_shared::media_token::{MediaGrant, MediaScope};

const SECRET: &str = "coturn-static-auth-secret";

/// `(username, credential)` of the `turn:` server in a response's `Link` headers.
fn turn_link(res: &reqwest::Response) -> (String, String) {
    let links: Vec<&str> = res.headers().get_all("link").iter().map(|v| v.to_str().expect("ascii")).collect();
    assert!(links.iter().any(|l| l.starts_with("<stun:") && !l.contains("username")), "{links:?}");
    let turn = links.iter().find(|l| l.starts_with("<turn:")).expect("a turn: link");
    let field = |name: &str| {
        let start = turn.find(&format!("{name}=\"")).expect(name) + name.len() + 2;
        turn[start..start + turn[start..].find('"').expect("closing quote")].to_string()
    };
    (field("username"), field("credential"))
}

fn expected(username: &str) -> String {
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(SECRET.as_bytes()).expect("key");
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turn_credentials_are_short_lived_and_name_the_tokens_user() {
    let relay = TestRelay::spawn_configured(|s| {
        s.ice_servers = parse_ice_servers("stun:127.0.0.1:3478, turn:127.0.0.1:3478?transport=udp").expect("urls");
        s.turn_secret = Some(TurnSecret::new(SECRET).expect("secret"));
        s.turn_ttl = std::time::Duration::from_secs(600);
    })
    .await;
    let slot = SlotId::new();
    let (host, viewer) = (UserId::new(), UserId::new());

    let mut publisher = Publisher::new().await;
    let offer = publisher.client.offer().await;
    let token = relay.user_token(slot, MediaGrant::Publish, host, MediaScope::Shared, 0);
    let res = relay.post_offer("whip", slot, Some(&token), &offer).await;
    assert_eq!(res.status(), 201);
    let (username, credential) = turn_link(&res);
    let (expiry, who) = username.split_once(':').expect("<expiry>:<user>");
    assert_eq!(who, host.to_string());
    let expiry: i64 = expiry.parse().expect("unix seconds");
    assert!((chrono_now() + 590..=chrono_now() + 610).contains(&expiry), "valid for the TTL: {expiry}");
    assert_eq!(credential, expected(&username));
    publisher.client.accept(res.text().await.expect("answer")).await;
    let _sending = publisher.start_sending();

    let mut player = Player::new().await;
    let offer = player.client.offer().await;
    let token = relay.user_token(slot, MediaGrant::Play, viewer, MediaScope::Shared, 0);
    let res = relay.post_offer("whep", slot, Some(&token), &offer).await;
    assert_eq!(res.status(), 201);
    let (username, credential) = turn_link(&res);
    assert!(username.ends_with(&format!(":{viewer}")), "each user gets their own: {username}");
    assert_eq!(credential, expected(&username));
}
