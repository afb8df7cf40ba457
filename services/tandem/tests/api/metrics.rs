//! `/metrics` is never public: on the main listener it needs `TANDEM_METRICS_TOKEN` (and is not
//! served without it); `TANDEM_METRICS_ADDR` serves it, without a token, on a separate listener.

use crate::Node;

const TOKEN: &str = "metrics-token-for-the-test";

#[tokio::test]
async fn metrics_are_not_served_on_the_main_listener_without_a_token_configured() {
    let node = Node::start().await;
    let res = node.http.get(node.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    assert!(!res.text().await.unwrap().contains("http_requests_total"));
}

#[tokio::test]
async fn metrics_need_the_token_on_the_main_listener_and_nothing_on_the_metrics_listener() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let metrics_addr = format!("127.0.0.1:{port}");
    let node = Node::start_with(&[("TANDEM_METRICS_TOKEN", TOKEN), ("TANDEM_METRICS_ADDR", &metrics_addr)]).await;
    let url = node.url("/metrics");
    assert_eq!(node.http.get(&url).send().await.unwrap().status(), 401, "no token");
    let wrong = node.http.get(&url).bearer_auth("metrics-token-for-the-tesT").send().await.unwrap();
    assert_eq!(wrong.status(), 401, "wrong token");
    let res = node.http.get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("process_resident_memory_bytes"));

    let res = node.http.get(format!("http://{metrics_addr}/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200, "the separate listener needs no token");
    assert!(res.text().await.unwrap().contains("http_requests_total"));
    let other = node.http.get(format!("http://{metrics_addr}/v1/me")).send().await.unwrap();
    assert_eq!(other.status(), 404, "the metrics listener serves nothing else");
}
