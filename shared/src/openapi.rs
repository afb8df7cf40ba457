//! Pieces every service's OpenAPI document shares: the bearer scheme, and the error responses
//! that follow from how a route is built rather than from what it does.

use utoipa::openapi::header::Header;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, ObjectBuilder, OpenApi, Ref, RefOr, ResponseBuilder, Type};
use utoipa::Modify;

/// Declares the `bearer` security scheme (an access token in `Authorization: Bearer`).
pub struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

/// Adds to every operation the `ErrorDoc` responses its shape implies, next to the ones the
/// route documents itself (a status the route already lists keeps its description, extended):
///
/// | when | status and codes |
/// |---|---|
/// | a bearer token is required | 401 `unauthenticated` / `invalid_token` / `token_expired`; 503 `unavailable` (revocations cannot be checked) |
/// | a JSON request body (not in `raw_bodies`) | 400 `invalid_json`; 413 `payload_too_large`; 415 `unsupported_media_type` |
/// | path parameters | 400 `invalid_path` |
/// | query parameters | 400 `invalid_query` |
/// | `POST`/`PUT`/`PATCH`/`DELETE` (every write is rate limited) | 429 `rate_limited` with `Retry-After`; 503 `unavailable` / `overloaded` |
///
/// Statuses that depend on what the route does (403, 404, 409, ...) stay on the route.
pub struct ErrorResponses {
    /// Paths whose body is read raw (webhooks): no 400/415 from the JSON extractor.
    pub raw_bodies: &'static [&'static str],
}

impl Modify for ErrorResponses {
    fn modify(&self, openapi: &mut OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let raw = self.raw_bodies.contains(&path.as_str());
            let path_params = item.parameters.as_ref().is_some_and(|p| has_param(p, ParameterIn::Path));
            let ops = [
                (&mut item.get, false),
                (&mut item.put, true),
                (&mut item.post, true),
                (&mut item.delete, true),
                (&mut item.patch, true),
            ];
            for (op, write) in ops {
                if let Some(op) = op.as_mut() {
                    add_errors(op, write, raw, path_params);
                }
            }
        }
    }
}

fn has_param(params: &[RefOr<utoipa::openapi::path::Parameter>], kind: ParameterIn) -> bool {
    params.iter().any(|p| matches!(p, RefOr::T(p) if p.parameter_in == kind))
}

/// Whether `op` requires a bearer token (an empty requirement, `{}`, makes it optional).
fn requires_bearer(op: &Operation) -> bool {
    let Some(security) = op.security.as_ref() else { return false };
    let reqs: Vec<serde_json::Value> = security.iter().filter_map(|s| serde_json::to_value(s).ok()).collect();
    !reqs.is_empty() && reqs.iter().all(|r| r.as_object().is_some_and(|o| o.contains_key("bearer")))
}

fn add_errors(op: &mut Operation, write: bool, raw_body: bool, path_params: bool) {
    let params = op.parameters.as_deref().unwrap_or_default();
    let path_params = path_params || has_param(params, ParameterIn::Path);
    let query_params = has_param(params, ParameterIn::Query);
    let json_body = !raw_body
        && matches!(&op.request_body, Some(RefOr::T(b)) if b.content.keys().any(|c| c.starts_with("application/json")));
    if requires_bearer(op) {
        add(
            op,
            401,
            "`unauthenticated`, `invalid_token` or `token_expired` (missing, invalid, expired or revoked access token)",
        );
        add(op, 503, "`unavailable`: a dependency (Redis, PostgreSQL or another service) cannot be reached; retry");
    }
    if json_body {
        add(op, 400, "`invalid_json`: the body is not the JSON this route expects");
        add(op, 413, "`payload_too_large`: the body is over 64 KB");
        add(op, 415, "`unsupported_media_type`: the body is not `application/json`");
    }
    if path_params {
        add(op, 400, "`invalid_path`: a path parameter does not parse");
    }
    if query_params {
        add(op, 400, "`invalid_query`: a query parameter does not parse");
    }
    if write {
        add(
            op,
            429,
            "`rate_limited`: too many requests of this kind by this user or client address; see `Retry-After`",
        );
        add(op, 503, "`unavailable` or `overloaded`: try again shortly (see `Retry-After`)");
    }
}

/// Add (or extend) the `status` response of `op` with an `ErrorDoc` body.
fn add(op: &mut Operation, status: u16, description: &str) {
    let key = status.to_string();
    if let Some(RefOr::T(existing)) = op.responses.responses.get_mut(&key) {
        let code = description.split('`').nth(1).unwrap_or(description);
        if !existing.description.contains(code) {
            existing.description = if existing.description.is_empty() {
                description.to_string()
            } else {
                format!("{}; or {description}", existing.description)
            };
        }
        if status == 429 {
            existing.headers.entry("Retry-After".into()).or_insert_with(|| retry_after().into());
        }
        return;
    }
    let mut response = ResponseBuilder::new()
        .description(description)
        .content("application/json", Content::new(Some(Ref::from_schema_name("ErrorDoc"))));
    if status == 429 || status == 503 {
        response = response.header("Retry-After", retry_after());
    }
    op.responses.responses.insert(key, RefOr::T(response.build()));
}

fn retry_after() -> Header {
    let mut h = Header::new(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1)));
    h.description = Some("Seconds to wait before retrying".into());
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::OpenApi as _;

    #[derive(serde::Deserialize, utoipa::ToSchema)]
    #[allow(dead_code)]
    struct Body {
        x: i64,
    }

    #[utoipa::path(post, path = "/v1/things/{id}", request_body = Body, security(("bearer" = [])),
        params(("id" = String, Path)),
        responses((status = 201), (status = 429, description = "`limit_reached`", body = crate::error::ErrorBody)))]
    #[allow(dead_code)]
    fn create() {}

    #[utoipa::path(get, path = "/v1/open", responses((status = 200)))]
    #[allow(dead_code)]
    fn open() {}

    #[utoipa::path(post, path = "/v1/hook", request_body = Body, responses((status = 204)))]
    #[allow(dead_code)]
    fn hook() {}

    const ERRORS: ErrorResponses = ErrorResponses { raw_bodies: &["/v1/hook"] };

    #[derive(utoipa::OpenApi)]
    #[openapi(paths(create, open, hook), modifiers(&ERRORS))]
    struct Doc;

    #[test]
    fn statuses_follow_the_shape_of_each_route() {
        let doc = serde_json::to_value(Doc::openapi()).unwrap();
        let statuses = |path: &str, method: &str| -> Vec<String> {
            doc["paths"][path][method]["responses"].as_object().unwrap().keys().cloned().collect()
        };
        assert_eq!(statuses("/v1/things/{id}", "post"), ["201", "400", "401", "413", "415", "429", "503"]);
        assert_eq!(statuses("/v1/open", "get"), ["200"]);
        assert_eq!(statuses("/v1/hook", "post"), ["204", "429", "503"]);
        let limited = &doc["paths"]["/v1/things/{id}"]["post"]["responses"]["429"];
        assert!(limited["description"].as_str().unwrap().contains("limit_reached"));
        assert!(limited["description"].as_str().unwrap().contains("rate_limited"));
        assert!(limited["headers"]["Retry-After"].is_object());
        let unauth = &doc["paths"]["/v1/things/{id}"]["post"]["responses"]["401"];
        assert_eq!(unauth["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/ErrorDoc");
    }
}
