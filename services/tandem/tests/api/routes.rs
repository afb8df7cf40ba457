//! infra/routes.tsv (the table nginx and the Ingress are generated from) sends every documented
//! route to the service that serves it: each path of auth's, the broker's and billing's OpenAPI
//! documents, signaling's socket and the relay's WHIP/WHEP, resolved by longest match.

use std::path::Path;

struct Route {
    path: String,
    exact: bool,
    service: String,
    deny: bool,
}

fn table() -> Vec<Route> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/routes.tsv")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            Route {
                path: cols[0].to_string(),
                exact: cols[1] == "exact",
                service: cols[2].to_string(),
                deny: cols.get(3).is_some_and(|f| f.contains("deny")),
            }
        })
        .collect()
}

/// The route nginx and ingress-nginx pick for `path`: the longest matching entry.
fn resolve<'a>(table: &'a [Route], path: &str) -> Option<&'a Route> {
    table
        .iter()
        .filter(|r| {
            if r.exact {
                path == r.path
            } else {
                r.path == "/" || path == r.path || path.starts_with(&format!("{}/", r.path))
            }
        })
        .max_by_key(|r| r.path.len())
}

#[test]
fn every_documented_route_reaches_its_service_and_internal_routes_do_not() {
    let table = table();
    let mut checked = 0;
    for (service, doc) in
        [("auth", tandem_auth::openapi()), ("broker", tandem_broker::openapi()), ("billing", tandem_billing::openapi())]
    {
        for path in doc.paths.paths.keys() {
            let route = resolve(&table, path).unwrap_or_else(|| panic!("{path} matches no route"));
            assert_eq!((route.service.as_str(), route.deny), (service, false), "{path}");
            checked += 1;
        }
    }
    assert!(checked > 20, "only {checked} documented paths");
    for (path, service) in [
        ("/v1/ws", "signaling"),
        ("/v1/relay/whip/abc", "relay"),
        ("/v1/relay/whep/abc/def", "relay"),
        ("/openapi.json", "web"),
        ("/docs/", "web"),
        ("/", "web"),
        ("/healthz", "broker"),
    ] {
        assert_eq!(resolve(&table, path).map(|r| r.service.as_str()), Some(service), "{path}");
    }
    for path in ["/internal/v1/rooms/x", "/internal/v1/payments/tips", "/internal/v1/slots/x/state", "/metrics"] {
        assert!(resolve(&table, path).is_some_and(|r| r.deny), "{path} must be denied at the edge");
    }
}
