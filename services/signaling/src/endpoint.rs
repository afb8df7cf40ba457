//! `GET /v1/ws`: authenticate, then upgrade and hand the socket to its task.
//!
//! The access token comes from the `access_token` query parameter, an `Authorization: Bearer`
//! header, or (for browsers, which cannot set headers on a WebSocket) a `bearer.<token>` entry in
//! `Sec-WebSocket-Protocol` next to `tandem`, which the server selects. A missing or bad token
//! is refused with 401 before the upgrade; a draining or full node answers 503, and a user who
//! already holds `SIGNALING_MAX_SOCKETS_PER_USER` sockets (on any node) 429.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde::Deserialize;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tandem_shared::auth::{bearer_token, AuthError, AuthUser};
use tandem_shared::error::{error_chain_fmt, error_response};
use tandem_shared::ids::ConnectionId;

use crate::hub::ResumeToken;
use crate::session::{self, Admission, Resume};
use crate::sockets;
use crate::Node;

/// The sub-protocol the server selects.
pub const SUBPROTOCOL: &str = "tandem";
/// Prefix of the token entry in `Sec-WebSocket-Protocol`.
pub const PROTOCOL_TOKEN_PREFIX: &str = "bearer.";

/// Why a socket was refused before the upgrade.
#[derive(thiserror::Error)]
pub enum ConnectError {
    /// Missing, invalid, expired or revoked token.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The node is shutting down.
    #[error("this node is draining; connect to another")]
    Draining,
    /// The node holds as many sockets as it may.
    #[error("this node is at capacity; retry later")]
    AtCapacity,
    /// The user holds as many sockets as one user may.
    #[error("this account has too many open sockets; close one first")]
    TooManySockets,
    /// Redis could not be asked.
    #[error("signaling is temporarily unavailable; retry shortly")]
    Unavailable,
    /// Bad query parameters.
    #[error("{0}")]
    BadRequest(String),
    /// Not a WebSocket handshake.
    #[error("this endpoint only accepts WebSocket upgrades")]
    NotWebSocket,
}

impl std::fmt::Debug for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        error_chain_fmt(self, f)
    }
}

impl ResponseError for ConnectError {
    fn status_code(&self) -> StatusCode {
        match self {
            ConnectError::Auth(e) => e.status_code(),
            ConnectError::Draining | ConnectError::AtCapacity | ConnectError::Unavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ConnectError::TooManySockets => StatusCode::TOO_MANY_REQUESTS,
            ConnectError::BadRequest(_) | ConnectError::NotWebSocket => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let code = match self {
            ConnectError::Auth(e) => return e.error_response(),
            ConnectError::Draining => "draining",
            ConnectError::AtCapacity => "at_capacity",
            ConnectError::TooManySockets => "too_many_sockets",
            ConnectError::Unavailable => "unavailable",
            ConnectError::BadRequest(_) => "invalid_request",
            ConnectError::NotWebSocket => "websocket_required",
        };
        let mut res = error_response(self.status_code(), code, self.to_string());
        if self.status_code() == StatusCode::SERVICE_UNAVAILABLE {
            // Another node may take the socket at once; this one asks for a short pause.
            res.headers_mut()
                .insert(actix_web::http::header::RETRY_AFTER, actix_web::http::header::HeaderValue::from_static("1"));
        }
        res
    }
}

#[derive(Deserialize)]
struct ConnectQuery {
    access_token: Option<String>,
    resume_token: Option<String>,
    last_seq: Option<u64>,
}

fn protocol_token(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get_all(actix_web::http::header::SEC_WEBSOCKET_PROTOCOL)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| p.trim().strip_prefix(PROTOCOL_TOKEN_PREFIX).map(str::to_owned))
}

/// Upgrade an authenticated request to a signaling socket.
///
/// # Errors
/// See [`ConnectError`].
pub async fn connect(
    req: HttpRequest,
    body: web::Payload,
    node: web::Data<Arc<Node>>,
) -> Result<HttpResponse, ConnectError> {
    if node.core.draining.load(Ordering::Relaxed) || node.core.shutdown.is_cancelled() {
        return Err(ConnectError::Draining);
    }
    let query = web::Query::<ConnectQuery>::from_query(req.query_string())
        .map_err(|_| {
            ConnectError::BadRequest("query parameters: access_token, resume_token, last_seq (a number)".into())
        })?
        .into_inner();
    let token = query
        .access_token
        .filter(|t| !t.is_empty())
        .or_else(|| bearer_token(&req).map(str::to_owned))
        .or_else(|| protocol_token(&req))
        .ok_or(AuthError::Missing)?;
    let user = AuthUser::from_token(&node.core.tokens, &node.core.redis, &token).await?;
    let resume = match query.resume_token {
        None => None,
        Some(t) => Some(Resume {
            token: ResumeToken::parse(&t)
                .ok_or_else(|| ConnectError::BadRequest("resume_token is malformed".into()))?,
            last_seq: query.last_seq.unwrap_or(0),
        }),
    };
    if node.hub.len() >= node.settings.max_connections {
        return Err(ConnectError::AtCapacity);
    }
    let admission = Admission {
        id: ConnectionId::new(),
        user: user.user_id,
        jti: user.claims.jti,
        exp: user.claims.exp,
        family: user.claims.fam.map(|f| f.0),
        email_verified: user.claims.email_verified,
        second_factor: user.claims.mfa,
        addr: tandem_shared::client_addr::client_ip(&req, &node.core.settings.trusted_proxies),
    };
    let claimed = sockets::claim(
        &node.core.redis,
        admission.user,
        admission.id,
        admission.exp,
        node.settings.max_sockets_per_user,
    )
    .await
    .map_err(|e| {
        tracing::error!(error.message = %e, "failed to claim a socket place");
        ConnectError::Unavailable
    })?;
    if !claimed {
        metrics::counter!("signaling_sockets_refused_total", "why" => "per_user").increment(1);
        return Err(ConnectError::TooManySockets);
    }
    let (response, _, stream) = match actix_ws::handle_with_protocols(&req, body, &[SUBPROTOCOL]) {
        Ok(upgraded) => upgraded,
        Err(_) => {
            let _ = sockets::release(&node.core.redis, admission.user, admission.id).await;
            return Err(ConnectError::NotWebSocket);
        }
    };
    // Frames go out through our own body (see `outbound`), not actix-ws's session channel.
    let out = std::sync::Arc::new(crate::outbound::Outbound::default());
    let response = response.map_body(|_, upgrade| actix_web::body::BoxBody::new(out.body(upgrade)));
    let node = node.get_ref().clone();
    actix_web::rt::spawn(session::run(node, admission, out, stream, resume));
    Ok(response)
}
