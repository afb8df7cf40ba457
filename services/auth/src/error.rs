//! [`AuthApiError`]: every way an auth request can fail, with its status and stable code.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use tandem_shared::error::{error_chain_fmt, error_response};

/// The auth service's error type.
#[derive(thiserror::Error)]
pub enum AuthApiError {
    /// Input failed validation (400 `invalid_input`).
    #[error("{0}")]
    Validation(String),
    /// Wrong email or password (401 `invalid_credentials`).
    #[error("email or password is incorrect")]
    InvalidCredentials,
    /// Unknown, expired or revoked refresh token (401 `invalid_refresh_token`).
    #[error("the refresh token is invalid or expired")]
    InvalidRefreshToken,
    /// A rotated refresh token was presented again: its family is revoked (401 `refresh_token_reused`).
    #[error("the refresh token was already used; every session of this login has been signed out")]
    RefreshTokenReused,
    /// The email is taken (409 `email_taken`).
    #[error("an account with this email already exists")]
    EmailTaken,
    /// The handle is taken (409 `handle_taken`).
    #[error("this handle is taken")]
    HandleTaken,
    /// The account has two-factor sign-in: send `totp` with the password (401 `totp_required`).
    #[error("this account signs in with a code from its authenticator app: send it as `totp`")]
    TotpRequired,
    /// The TOTP or recovery code at sign-in is wrong or was already used (401 `invalid_totp`).
    #[error("the authenticator code is incorrect or was already used")]
    InvalidTotp,
    /// A code given to confirm or disable two-factor sign-in is wrong or used (400 `invalid_code`).
    #[error("the code is incorrect or was already used")]
    WrongCode,
    /// The password given to confirm an account change is wrong (400 `invalid_password`).
    #[error("the password is incorrect")]
    WrongPassword,
    /// A verification or reset token is unknown, used or expired (400 `invalid_email_token`).
    #[error("this link is invalid, was already used or has expired; ask for a new one")]
    InvalidEmailToken,
    /// The email address is already verified (409 `already_verified`).
    #[error("the email address is already verified")]
    AlreadyVerified,
    /// Two-factor sign-in is already on (409 `totp_already_enabled`).
    #[error("two-factor sign-in is already on; disable it first")]
    TotpAlreadyEnabled,
    /// No enrolment to confirm, or nothing to disable (409 `totp_not_enrolled`).
    #[error("there is no authenticator to confirm or disable; start enrolment first")]
    TotpNotEnrolled,
    /// No such session of this account (404 `not_found`).
    #[error("no such session")]
    NotFound,
    /// Too many failed logins (429 `too_many_attempts`).
    #[error("too many failed login attempts; try again in {retry_after} seconds")]
    Throttled {
        /// Seconds until another attempt is allowed.
        retry_after: u64,
    },
    /// Every database connection is busy: try again shortly (503 `overloaded`, `Retry-After`).
    #[error("the service is busy; try again shortly")]
    Overloaded,
    /// Anything unexpected (500 `internal`); details go to the log only.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl std::fmt::Debug for AuthApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        error_chain_fmt(self, f)?;
        if let AuthApiError::Internal(e) = self {
            write!(f, "{e:?}")?;
        }
        Ok(())
    }
}

impl From<sqlx::Error> for AuthApiError {
    fn from(e: sqlx::Error) -> Self {
        if matches!(e, sqlx::Error::PoolTimedOut) {
            return AuthApiError::Overloaded;
        }
        AuthApiError::Internal(anyhow::Error::new(e).context("database error"))
    }
}

impl From<redis::RedisError> for AuthApiError {
    fn from(e: redis::RedisError) -> Self {
        // Redis down or restarting: a retryable 503, not a 500.
        if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() || e.is_timeout() {
            tracing::warn!(error.message = %e, "redis unavailable");
            return AuthApiError::Overloaded;
        }
        AuthApiError::Internal(anyhow::Error::new(e).context("redis error"))
    }
}

impl From<crate::password::HashError> for AuthApiError {
    fn from(e: crate::password::HashError) -> Self {
        match e {
            crate::password::HashError::Busy => AuthApiError::Overloaded,
            crate::password::HashError::Failed(e) => AuthApiError::Internal(e),
        }
    }
}

impl ResponseError for AuthApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            AuthApiError::Validation(_)
            | AuthApiError::WrongCode
            | AuthApiError::WrongPassword
            | AuthApiError::InvalidEmailToken => StatusCode::BAD_REQUEST,
            AuthApiError::InvalidCredentials
            | AuthApiError::InvalidRefreshToken
            | AuthApiError::RefreshTokenReused
            | AuthApiError::TotpRequired
            | AuthApiError::InvalidTotp => StatusCode::UNAUTHORIZED,
            AuthApiError::NotFound => StatusCode::NOT_FOUND,
            AuthApiError::EmailTaken
            | AuthApiError::HandleTaken
            | AuthApiError::AlreadyVerified
            | AuthApiError::TotpAlreadyEnabled
            | AuthApiError::TotpNotEnrolled => StatusCode::CONFLICT,
            AuthApiError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            AuthApiError::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            AuthApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let code = match self {
            AuthApiError::Validation(_) => "invalid_input",
            AuthApiError::InvalidCredentials => "invalid_credentials",
            AuthApiError::InvalidRefreshToken => "invalid_refresh_token",
            AuthApiError::RefreshTokenReused => "refresh_token_reused",
            AuthApiError::EmailTaken => "email_taken",
            AuthApiError::HandleTaken => "handle_taken",
            AuthApiError::TotpRequired => "totp_required",
            AuthApiError::InvalidTotp => "invalid_totp",
            AuthApiError::WrongCode => "invalid_code",
            AuthApiError::WrongPassword => "invalid_password",
            AuthApiError::InvalidEmailToken => "invalid_email_token",
            AuthApiError::AlreadyVerified => "already_verified",
            AuthApiError::TotpAlreadyEnabled => "totp_already_enabled",
            AuthApiError::TotpNotEnrolled => "totp_not_enrolled",
            AuthApiError::NotFound => "not_found",
            AuthApiError::Throttled { .. } => "too_many_attempts",
            AuthApiError::Overloaded => "overloaded",
            AuthApiError::Internal(e) => {
                tracing::error!(error.cause_chain = ?e, "auth request failed");
                "internal"
            }
        };
        let mut res = error_response(self.status_code(), code, self.to_string());
        let retry_after = match self {
            AuthApiError::Throttled { retry_after } => Some(*retry_after),
            AuthApiError::Overloaded => Some(1),
            _ => None,
        };
        if let Some(secs) = retry_after {
            if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&secs.to_string()) {
                res.headers_mut().insert(actix_web::http::header::RETRY_AFTER, v);
            }
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_timeout_is_a_retryable_503_not_a_500() {
        let e = AuthApiError::from(sqlx::Error::PoolTimedOut);
        assert_eq!(e.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        let res = e.error_response();
        assert_eq!(res.headers().get(actix_web::http::header::RETRY_AFTER).unwrap(), "1");
        let other = AuthApiError::from(sqlx::Error::RowNotFound);
        assert_eq!(other.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
