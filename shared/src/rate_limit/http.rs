//! The middleware that limits every write route, before the handler (and so before body
//! parsing, password hashing, database writes or provider calls) runs.
//!
//! Each service lists its write routes with their class ([`RouteClass`]); a write under `/v1/`
//! that no service listed is limited as [`Class::Write`], and `/internal/` routes (service
//! tokens) are not limited. The user is the `sub` of a valid bearer token (signature and claims
//! only: revocation is the handler's business), the address is the trusted client address
//! ([`crate::client_addr`]).

use super::{Class, RateLimiter, Verdict};
use crate::client_addr::{client_ip, TrustedProxies};
use crate::error::error_response;
use crate::jwt::Tokens;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderValue, RETRY_AFTER};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
use std::collections::HashMap;

/// A write route (`method`, actix/OpenAPI path template) and the class that limits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteClass {
    /// `POST`, `PUT`, `PATCH` or `DELETE`.
    pub method: &'static str,
    /// The route's path template, e.g. `/v1/rooms/{id}/end`.
    pub path: &'static str,
    /// Its class.
    pub class: Class,
}

impl RouteClass {
    /// `method path` is limited as `class`.
    pub const fn new(method: &'static str, path: &'static str, class: Class) -> Self {
        Self { method, path, class }
    }
}

/// Whether `method` changes state (and so is limited).
pub(crate) fn is_write(method: &Method) -> bool {
    matches!(*method, Method::POST | Method::PUT | Method::PATCH | Method::DELETE)
}

/// What the middleware needs, as app data.
pub(crate) struct HttpLimits {
    limiter: RateLimiter,
    routes: HashMap<(String, &'static str), Class>,
    tokens: Tokens,
    trusted: TrustedProxies,
}

impl HttpLimits {
    pub(crate) fn new(limiter: RateLimiter, routes: &[RouteClass], tokens: Tokens, trusted: TrustedProxies) -> Self {
        let routes = routes.iter().map(|r| ((r.method.to_ascii_uppercase(), r.path), r.class)).collect();
        Self { limiter, routes, tokens, trusted }
    }

    fn class_of(&self, req: &ServiceRequest) -> Option<Class> {
        if !is_write(req.method()) || req.path().starts_with("/internal/") {
            return None;
        }
        let pattern = req.match_pattern();
        let listed = pattern.as_deref().and_then(|p| self.routes.get(&(req.method().as_str().to_string(), p)));
        match listed {
            Some(class) => Some(*class),
            None if req.path().starts_with("/v1/") => Some(Class::Write),
            None => None,
        }
    }
}

/// The 429 every limited route answers with: `rate_limited` and `Retry-After` in seconds.
pub fn too_many_requests(retry_after: std::time::Duration) -> HttpResponse {
    let secs = Verdict::retry_after_secs(retry_after);
    let mut res = error_response(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("too many requests; try again in {secs} seconds"),
    );
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        res.headers_mut().insert(RETRY_AFTER, v);
    }
    res
}

/// The 503 of a class that fails closed while Redis is unavailable.
pub fn limiter_unavailable() -> HttpResponse {
    let mut res = error_response(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "rate limiting is temporarily unavailable; try again shortly",
    );
    res.headers_mut().insert(RETRY_AFTER, HeaderValue::from_static("1"));
    res
}

/// The middleware (installed by [`crate::server::build_server`]).
pub(crate) async fn limit(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let limits = req.app_data::<web::Data<HttpLimits>>().cloned();
    let Some((limits, class)) = limits.and_then(|l| l.class_of(&req).map(|c| (l, c))) else {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    };
    let user = crate::auth::bearer_token(req.request()).and_then(|t| limits.tokens.verify(t).ok()).map(|c| c.sub);
    let addr = client_ip(req.request(), &limits.trusted);
    let refusal = match limits.limiter.check(class, user, addr).await {
        Verdict::Allowed => return next.call(req).await.map(ServiceResponse::map_into_left_body),
        Verdict::Limited { retry_after } => too_many_requests(retry_after),
        Verdict::Unavailable => limiter_unavailable(),
    };
    Ok(req.into_response(refusal).map_into_right_body())
}
