//! [`BillingError`]: every way a billing request can fail, with its status and stable code.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use tandem_shared::auth::AuthError;
use tandem_shared::error::{error_chain_fmt, error_response};

/// The billing service's error type.
#[derive(thiserror::Error)]
pub enum BillingError {
    /// Input failed validation (400 `invalid_input`).
    #[error("{0}")]
    Validation(String),
    /// A body that could not be read or is too large (413 `payload_too_large`, ...).
    #[error(transparent)]
    Input(#[from] tandem_shared::error::InputError),
    /// Authentication or role failure (401/403).
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The caller may not act on this object (403 `forbidden`).
    #[error("{0}")]
    Forbidden(&'static str),
    /// No such object (404 `not_found`).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The wallet does not cover the amount (402 `insufficient_funds`).
    #[error("insufficient funds: {needed} needed, {available} available")]
    InsufficientFunds {
        /// Minor units needed.
        needed: i64,
        /// Minor units available.
        available: i64,
    },
    /// The wallet was taken negative by a refund or dispute (403 `wallet_frozen`).
    #[error("the wallet is frozen; contact support")]
    WalletFrozen,
    /// A state conflict with a stable code (409).
    #[error("{message}")]
    Conflict {
        /// Stable code.
        code: &'static str,
        /// Explanation.
        message: String,
    },
    /// A limit was reached (429 `limit_reached`).
    #[error("{0}")]
    Limit(String),
    /// A webhook whose signature is missing, forged or stale (400 `invalid_signature`).
    #[error("the Stripe-Signature header is missing, invalid or too old")]
    InvalidSignature,
    /// The feature is not configured here (503 `not_configured`).
    #[error("{0} is not configured on this deployment")]
    NotConfigured(&'static str),
    /// Stripe failed or refused (502 `payment_provider_error`).
    #[error("the payment provider could not be reached; try again")]
    Provider(#[source] anyhow::Error),
    /// Anything unexpected (500 `internal`); details go to the log only.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
    /// Another service this needs cannot be reached (503 `unavailable`).
    #[error("{0} is temporarily unavailable; try again shortly")]
    Unavailable(&'static str),
    /// The creator must verify their identity first (403 `verification_required`).
    #[error("verify your identity first (GET /v1/verification says what is missing)")]
    VerificationRequired,
}

impl BillingError {
    /// A 409 with `code`.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict { code, message: message.into() }
    }
}

impl std::fmt::Debug for BillingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        error_chain_fmt(self, f)?;
        if let BillingError::Internal(e) | BillingError::Provider(e) = self {
            write!(f, "{e:?}")?;
        }
        Ok(())
    }
}

impl From<sqlx::Error> for BillingError {
    fn from(e: sqlx::Error) -> Self {
        BillingError::Internal(anyhow::Error::new(e).context("database error"))
    }
}

impl From<crate::ledger::SpendError> for BillingError {
    fn from(e: crate::ledger::SpendError) -> Self {
        use crate::ledger::SpendError;
        match e {
            SpendError::InsufficientFunds { needed, available } => {
                BillingError::InsufficientFunds { needed, available }
            }
            SpendError::Frozen => BillingError::WalletFrozen,
            SpendError::Db(e) => e.into(),
        }
    }
}

impl ResponseError for BillingError {
    fn status_code(&self) -> StatusCode {
        match self {
            BillingError::Validation(_) | BillingError::InvalidSignature => StatusCode::BAD_REQUEST,
            BillingError::Auth(e) => e.status_code(),
            BillingError::Input(e) => e.status_code(),
            BillingError::Forbidden(_) | BillingError::WalletFrozen | BillingError::VerificationRequired => {
                StatusCode::FORBIDDEN
            }
            BillingError::NotFound(_) => StatusCode::NOT_FOUND,
            BillingError::InsufficientFunds { .. } => StatusCode::PAYMENT_REQUIRED,
            BillingError::Conflict { .. } => StatusCode::CONFLICT,
            BillingError::Limit(_) => StatusCode::TOO_MANY_REQUESTS,
            BillingError::NotConfigured(_) | BillingError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            BillingError::Provider(_) => StatusCode::BAD_GATEWAY,
            BillingError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let code = match self {
            BillingError::Validation(_) => "invalid_input",
            BillingError::Auth(e) => return e.error_response(),
            BillingError::Input(e) => return e.error_response(),
            BillingError::Forbidden(_) => "forbidden",
            BillingError::NotFound(_) => "not_found",
            BillingError::InsufficientFunds { .. } => "insufficient_funds",
            BillingError::WalletFrozen => "wallet_frozen",
            BillingError::VerificationRequired => "verification_required",
            BillingError::Conflict { code, .. } => code,
            BillingError::Limit(_) => "limit_reached",
            BillingError::InvalidSignature => "invalid_signature",
            BillingError::NotConfigured(_) => "not_configured",
            BillingError::Unavailable(_) => "unavailable",
            BillingError::Provider(e) => {
                tracing::error!(error.cause_chain = ?e, "payment provider call failed");
                "payment_provider_error"
            }
            BillingError::Internal(e) => {
                tracing::error!(error.cause_chain = ?e, "billing request failed");
                "internal"
            }
        };
        error_response(self.status_code(), code, self.to_string())
    }
}
