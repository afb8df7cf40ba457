use serde_json::Value;

fn doc() -> Value {
    serde_json::to_value(tandem_auth::openapi()).expect("the document serialises")
}

#[test]
fn every_auth_route_is_described() {
    let doc = doc();
    for (path, method) in [
        ("/v1/auth/signup", "post"),
        ("/v1/auth/login", "post"),
        ("/v1/auth/refresh", "post"),
        ("/v1/auth/logout", "post"),
        ("/v1/me", "get"),
        ("/.well-known/jwks.json", "get"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path} is missing from the document");
    }
}

#[test]
fn bodies_and_security_match_the_handlers() {
    let doc = doc();
    let signup = &doc["components"]["schemas"]["SignupBody"];
    let mut required: Vec<&str> = signup["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    required.sort_unstable();
    assert_eq!(required, ["email", "handle", "password", "role"]);
    assert_eq!(
        doc["paths"]["/v1/auth/signup"]["post"]["responses"]["201"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/TokenResponse"
    );
    assert_eq!(doc["paths"]["/v1/me"]["get"]["security"][0]["bearer"], serde_json::json!([]));
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    assert!(doc["paths"]["/v1/auth/signup"]["post"].get("security").is_none(), "signup needs no token");
}
