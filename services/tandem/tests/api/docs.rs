use crate::Node;
use serde_json::Value;

#[tokio::test]
async fn one_document_describes_auth_broker_and_billing_routes() {
    let node = Node::start().await;
    let res = node.http.get(node.url("/openapi.json")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let doc: Value = res.json().await.unwrap();
    assert_eq!(doc["info"]["title"], "Tandem API");
    for (path, method) in [
        ("/v1/auth/signup", "post"),
        ("/v1/auth/login", "post"),
        ("/v1/me", "get"),
        ("/v1/rooms", "post"),
        ("/v1/rooms", "get"),
        ("/v1/rooms/{id}/ai", "patch"),
        ("/v1/private-requests/{id}/accept", "post"),
        ("/v1/wallet", "get"),
        ("/v1/tips", "post"),
        ("/v1/admin/payouts/{payout_id}/execute", "post"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path} is missing from /openapi.json");
    }
    // Schemas of both services, and the one bearer scheme both refer to.
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["TokenResponse"].is_object() && schemas["ErrorDoc"].is_object());
    assert!(schemas["PublishEndpoint"].is_object());
    assert!(schemas["AiView"].is_object() && schemas["AiChange"].is_object());
    assert!(schemas["TipRequest"].is_object() && schemas["Payout"].is_object());
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
}

#[tokio::test]
async fn swagger_ui_is_served_at_docs() {
    let node = Node::start().await;
    let res = node.http.get(node.url("/docs/")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_string();
    assert!(content_type.starts_with("text/html"), "content-type {content_type}");
    let html = res.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "not the Swagger UI page:\n{html}");
    // The UI loads the merged document.
    let init = node.http.get(node.url("/docs/swagger-initializer.js")).send().await.unwrap();
    assert_eq!(init.status(), 200);
    assert!(init.text().await.unwrap().contains("/openapi.json"));
}

/// Every write operation of the public API is limited by a class its service chose (a new
/// route without one fails here), and every listed route exists.
#[test]
fn every_documented_write_operation_has_a_rate_limit_class() {
    use tandem_shared::rate_limit::http::RouteClass;
    let doc = serde_json::to_value(tandem::api_docs::openapi()).unwrap();
    let tables: Vec<RouteClass> =
        [tandem_auth::routes::RATE_LIMITED, tandem_broker::routes::RATE_LIMITED, tandem_billing::routes::RATE_LIMITED]
            .concat();
    let mut writes = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["post", "put", "patch", "delete"] {
            if item[method].is_object() {
                writes += 1;
                let listed = tables.iter().any(|r| r.path == path && r.method.eq_ignore_ascii_case(method));
                assert!(
                    listed,
                    "{} {path} has no rate-limit class (add it to its service's RATE_LIMITED)",
                    method.to_uppercase()
                );
            }
        }
    }
    assert!(writes >= 24, "only {writes} write operations documented");
    for r in &tables {
        let op = &doc["paths"][r.path][r.method.to_ascii_lowercase()];
        assert!(op.is_object(), "{} {} is listed but not documented", r.method, r.path);
    }
}
