//! The relay's error type and how each variant is answered.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use tandem_shared::error::{error_chain_fmt, error_response};

/// Everything a relay endpoint can refuse.
#[derive(thiserror::Error)]
pub enum RelayError {
    /// No or unusable bearer token (401).
    #[error("a valid media token is required: {0}")]
    Unauthorized(&'static str),
    /// A valid token for another slot or grant (403).
    #[error("this media token does not allow that on this slot")]
    Forbidden,
    /// The body is not `application/sdp` (415).
    #[error("expected Content-Type: application/sdp")]
    NotSdp,
    /// Unusable SDP offer (400).
    #[error("{0}")]
    BadOffer(String),
    /// The slot already has a publisher (409).
    #[error("this slot already has a publisher")]
    SlotBusy,
    /// Nobody publishes the slot (404).
    #[error("nobody is publishing this slot")]
    NotPublishing,
    /// The slot's room ended; its tokens no longer open sessions (410).
    #[error("this slot's room has ended")]
    SlotReleased,
    /// The publish token was revoked: the stage changed since it was issued (410).
    #[error("this publish token was revoked: the stage changed")]
    TokenRevoked,
    /// The token's user is banned from the slot's room (403).
    #[error("you are banned from this room")]
    Banned,
    /// A play-session cap is reached (429).
    #[error("too many play sessions for this {}", .0.as_str())]
    TooManySessions(crate::forward::SessionCap),
    /// No such session resource (404).
    #[error("no such session")]
    UnknownSession,
    /// No free UDP port (503).
    #[error("the relay has no free media port")]
    NoPorts,
    /// The node is shutting down (503).
    #[error("the relay is shutting down")]
    Draining,
    /// The broker cannot say whether the slot may carry media (503); refused, never let through.
    #[error("the slot cannot be checked right now; try again shortly")]
    Unavailable,
    /// Anything unexpected (500); details are logged only.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl std::fmt::Debug for RelayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        error_chain_fmt(self, f)
    }
}

impl From<crate::session::SessionError> for RelayError {
    fn from(e: crate::session::SessionError) -> Self {
        use crate::session::SessionError as S;
        match e {
            S::SlotBusy => RelayError::SlotBusy,
            S::NotPublishing => RelayError::NotPublishing,
            S::Revoked => RelayError::TokenRevoked,
            S::TooManySessions(cap) => RelayError::TooManySessions(cap),
            S::BadOffer(m) => RelayError::BadOffer(m),
            S::NoPorts => RelayError::NoPorts,
            S::Internal(e) => RelayError::Internal(e),
        }
    }
}

impl RelayError {
    fn code(&self) -> &'static str {
        match self {
            RelayError::Unauthorized(_) => "invalid_token",
            RelayError::Forbidden => "forbidden",
            RelayError::Banned => "banned",
            RelayError::NotSdp => "unsupported_media_type",
            RelayError::BadOffer(_) => "invalid_offer",
            RelayError::SlotBusy => "slot_busy",
            RelayError::NotPublishing => "not_publishing",
            RelayError::UnknownSession => "not_found",
            RelayError::SlotReleased => "slot_released",
            RelayError::TokenRevoked => "token_revoked",
            RelayError::TooManySessions(_) => "too_many_sessions",
            RelayError::NoPorts => "no_media_ports",
            RelayError::Draining => "draining",
            RelayError::Unavailable => "unavailable",
            RelayError::Internal(_) => "internal",
        }
    }
}

impl ResponseError for RelayError {
    fn status_code(&self) -> StatusCode {
        match self {
            RelayError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            RelayError::Forbidden | RelayError::Banned => StatusCode::FORBIDDEN,
            RelayError::NotSdp => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            RelayError::BadOffer(_) => StatusCode::BAD_REQUEST,
            RelayError::SlotBusy => StatusCode::CONFLICT,
            RelayError::NotPublishing | RelayError::UnknownSession => StatusCode::NOT_FOUND,
            RelayError::SlotReleased | RelayError::TokenRevoked => StatusCode::GONE,
            RelayError::TooManySessions(_) => StatusCode::TOO_MANY_REQUESTS,
            RelayError::NoPorts | RelayError::Draining | RelayError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            RelayError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let RelayError::Internal(e) = self {
            tracing::error!(error.cause_chain = ?e, "relay request failed");
        }
        let mut res = error_response(self.status_code(), self.code(), self.to_string());
        if matches!(self, RelayError::Unauthorized(_)) {
            res.headers_mut().insert(
                actix_web::http::header::WWW_AUTHENTICATE,
                actix_web::http::header::HeaderValue::from_static("Bearer"),
            );
        }
        res
    }
}
