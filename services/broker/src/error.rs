//! [`BrokerError`]: every way a broker request can fail, with its status and stable code.

use crate::ai::daydream::DaydreamError;
use crate::provider::ProviderError;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use tandem_shared::auth::AuthError;
use tandem_shared::error::{error_chain_fmt, error_response};
use tandem_shared::hooks::PaymentRefusal;

/// The broker's error type.
#[derive(thiserror::Error)]
pub enum BrokerError {
    /// Input failed validation (400 `invalid_input`).
    #[error("{0}")]
    Validation(String),
    /// Authentication or role failure (401/403, from the shared extractor's codes).
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// A body that could not be read or is too large (413 `payload_too_large`, ...).
    #[error(transparent)]
    Input(#[from] tandem_shared::error::InputError),
    /// The caller may not do this to this resource (403 `forbidden`).
    #[error("{0}")]
    Forbidden(&'static str),
    /// Refused for who the caller is (403 with a specific code: `verification_required`,
    /// `geo_blocked`, `banned`).
    #[error("{message}")]
    Denied {
        /// Stable code.
        code: &'static str,
        /// Human-readable explanation.
        message: &'static str,
    },
    /// Unknown, or not visible to the caller (404 `not_found`).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The resource is not in a state that allows this (409 with a specific code).
    #[error("{message}")]
    Conflict {
        /// Stable code, e.g. `creator_busy`.
        code: &'static str,
        /// Human-readable explanation.
        message: &'static str,
    },
    /// Billing refused (402 `insufficient_funds` / `wallet_frozen`, 503 `billing_unavailable`).
    #[error(transparent)]
    Payment(#[from] PaymentRefusal),
    /// The stream provider failed (502 `provider_error` / 503 `provider_unavailable`).
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// A 400 with a specific code, e.g. `reload_required`.
    #[error("{message}")]
    Refused {
        /// Stable code.
        code: &'static str,
        /// Human-readable explanation.
        message: String,
    },
    /// Daydream failed (502 `ai_provider_error` with Daydream's message / 503 `ai_unavailable`).
    #[error(transparent)]
    Ai(crate::ai::daydream::DaydreamError),
    /// Webhook or internal-report signature refused (401 `invalid_signature`).
    #[error("{0}")]
    Signature(&'static str),
    /// Another service this needs cannot be reached (503 `unavailable`, `Retry-After`).
    #[error("{0} is temporarily unavailable; try again shortly")]
    Unavailable(&'static str),
    /// Every database connection is busy: try again shortly (503 `overloaded`, `Retry-After`).
    #[error("the service is busy; try again shortly")]
    Overloaded,
    /// Anything unexpected (500 `internal`); details go to the log only.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl BrokerError {
    /// 403 `verification_required`.
    pub fn verification_required() -> Self {
        BrokerError::Denied {
            code: "verification_required",
            message: "verify your identity first (GET /v1/verification says what is missing)",
        }
    }

    /// 403 `geo_blocked`.
    pub fn geo_blocked() -> Self {
        BrokerError::Denied { code: "geo_blocked", message: "this creator's rooms are not available in your region" }
    }

    /// 403 `banned`.
    pub fn banned() -> Self {
        BrokerError::Denied { code: "banned", message: "you are banned from this creator's rooms" }
    }

    /// A 409 with `code`.
    pub fn conflict(code: &'static str, message: &'static str) -> Self {
        BrokerError::Conflict { code, message }
    }
}

impl std::fmt::Debug for BrokerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        error_chain_fmt(self, f)?;
        if let BrokerError::Internal(e) = self {
            write!(f, "{e:?}")?;
        }
        Ok(())
    }
}

impl From<sqlx::Error> for BrokerError {
    fn from(e: sqlx::Error) -> Self {
        if matches!(e, sqlx::Error::PoolTimedOut) {
            return BrokerError::Overloaded;
        }
        BrokerError::Internal(anyhow::Error::new(e).context("database error"))
    }
}

impl From<redis::RedisError> for BrokerError {
    fn from(e: redis::RedisError) -> Self {
        // Redis down or restarting: a retryable 503, not a 500.
        if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() || e.is_timeout() {
            tracing::warn!(error.message = %e, "redis unavailable");
            return BrokerError::Unavailable("live state");
        }
        BrokerError::Internal(anyhow::Error::new(e).context("redis error"))
    }
}

impl ResponseError for BrokerError {
    fn status_code(&self) -> StatusCode {
        match self {
            BrokerError::Validation(_) => StatusCode::BAD_REQUEST,
            BrokerError::Auth(e) => e.status_code(),
            BrokerError::Input(e) => e.status_code(),
            BrokerError::Forbidden(_) | BrokerError::Denied { .. } => StatusCode::FORBIDDEN,
            BrokerError::NotFound(_) => StatusCode::NOT_FOUND,
            BrokerError::Conflict { .. } => StatusCode::CONFLICT,
            BrokerError::Payment(PaymentRefusal::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            BrokerError::Payment(_) => StatusCode::PAYMENT_REQUIRED,
            BrokerError::Provider(ProviderError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            BrokerError::Provider(ProviderError::Rejected(_)) => StatusCode::BAD_GATEWAY,
            BrokerError::Refused { .. } => StatusCode::BAD_REQUEST,
            BrokerError::Ai(DaydreamError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            BrokerError::Ai(DaydreamError::Rejected { .. }) => StatusCode::BAD_GATEWAY,
            BrokerError::Signature(_) => StatusCode::UNAUTHORIZED,
            BrokerError::Overloaded | BrokerError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            BrokerError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (code, message): (&str, String) = match self {
            BrokerError::Auth(e) => return e.error_response(),
            BrokerError::Input(e) => return e.error_response(),
            BrokerError::Validation(m) => ("invalid_input", m.clone()),
            BrokerError::Forbidden(m) => ("forbidden", (*m).into()),
            BrokerError::Denied { code, message } => (code, (*message).into()),
            BrokerError::NotFound(_) => ("not_found", self.to_string()),
            BrokerError::Conflict { code, message } => (code, (*message).into()),
            BrokerError::Payment(PaymentRefusal::InsufficientFunds { .. }) => ("insufficient_funds", self.to_string()),
            BrokerError::Payment(PaymentRefusal::WalletFrozen) => ("wallet_frozen", self.to_string()),
            BrokerError::Payment(PaymentRefusal::Refused { code, message }) => (code, message.clone()),
            BrokerError::Payment(PaymentRefusal::Unavailable(e)) => {
                tracing::error!(error.cause_chain = ?e, "billing unavailable");
                ("billing_unavailable", "billing is temporarily unavailable".into())
            }
            // Other refusals billing may add: 402 with a generic code and billing's message.
            #[allow(unreachable_patterns)]
            BrokerError::Payment(other) => ("payment_refused", other.to_string()),
            BrokerError::Provider(e) => {
                tracing::error!(error.message = %e, "stream provider failed");
                match e {
                    ProviderError::Unavailable(_) => {
                        ("provider_unavailable", "the stream provider is unavailable; try again shortly".into())
                    }
                    ProviderError::Rejected(_) => {
                        ("provider_error", "the stream provider refused to create the streams".into())
                    }
                }
            }
            BrokerError::Refused { code, message } => (code, message.clone()),
            BrokerError::Ai(e) => {
                tracing::error!(error.message = %e, "daydream failed");
                match e {
                    DaydreamError::Unavailable(_) => {
                        ("ai_unavailable", "the AI service (Daydream) is unavailable; try again shortly".into())
                    }
                    DaydreamError::Rejected { status, code, message, .. } => {
                        ("ai_provider_error", format!("Daydream refused the request (HTTP {status} {code}): {message}"))
                    }
                }
            }
            BrokerError::Signature(m) => ("invalid_signature", (*m).into()),
            BrokerError::Overloaded | BrokerError::Unavailable(_) => {
                let code = if matches!(self, BrokerError::Overloaded) { "overloaded" } else { "unavailable" };
                let mut res = error_response(self.status_code(), code, self.to_string());
                res.headers_mut().insert(
                    actix_web::http::header::RETRY_AFTER,
                    actix_web::http::header::HeaderValue::from_static("1"),
                );
                return res;
            }
            BrokerError::Internal(e) => {
                tracing::error!(error.cause_chain = ?e, "broker request failed");
                ("internal", "internal error".into())
            }
        };
        error_response(self.status_code(), code, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_timeout_is_a_retryable_503_not_a_500() {
        let e = BrokerError::from(sqlx::Error::PoolTimedOut);
        assert_eq!(e.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.error_response().headers().get(actix_web::http::header::RETRY_AFTER).unwrap(), "1");
    }
}
