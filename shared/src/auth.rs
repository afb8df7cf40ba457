//! The [`AuthUser`] extractor: a verified bearer token on an HTTP request.

use crate::error::error_response;
use crate::ids::{Role, UserId};
use crate::jwt::{Claims, TokenError, Tokens};
use crate::redis::RedisHandle;
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use std::future::Future;
use std::pin::Pin;

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct AuthUser {
    /// Who is calling.
    pub user_id: UserId,
    /// Their role.
    pub role: Role,
    /// The verified claims of their access token.
    pub claims: Claims,
}

/// Why a request is not authenticated or not allowed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer` header.
    #[error("an access token is required (Authorization: Bearer <token>)")]
    Missing,
    /// The token has expired.
    #[error("the access token has expired")]
    Expired,
    /// The token is invalid or was revoked.
    #[error("the access token is invalid")]
    Invalid,
    /// The caller's role may not do this.
    #[error("this action needs the {0} role")]
    WrongRole(&'static str),
    /// The account's email address is not verified yet (403 `email_unverified`).
    #[error("verify your email address first (see the message we sent, or ask for a new one)")]
    EmailUnverified,
    /// The caller did not sign in with a second factor, which this needs (403
    /// `second_factor_required`): enrol TOTP and sign in with a code.
    #[error("this needs two-factor sign-in: enable an authenticator app and sign in with a code")]
    SecondFactorRequired,
    /// The revocation list could not be checked.
    #[error("authentication is temporarily unavailable")]
    Unavailable,
}

impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            AuthError::WrongRole(_) | AuthError::EmailUnverified | AuthError::SecondFactorRequired => {
                StatusCode::FORBIDDEN
            }
            AuthError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let code = match self {
            AuthError::Missing => "unauthenticated",
            AuthError::Expired => "token_expired",
            AuthError::Invalid => "invalid_token",
            AuthError::WrongRole(_) => "forbidden",
            AuthError::EmailUnverified => "email_unverified",
            AuthError::SecondFactorRequired => "second_factor_required",
            AuthError::Unavailable => "unavailable",
        };
        let mut res = error_response(self.status_code(), code, self.to_string());
        if self.status_code() == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                actix_web::http::header::WWW_AUTHENTICATE,
                actix_web::http::header::HeaderValue::from_static("Bearer"),
            );
        }
        if self.status_code() == StatusCode::SERVICE_UNAVAILABLE {
            res.headers_mut()
                .insert(actix_web::http::header::RETRY_AFTER, actix_web::http::header::HeaderValue::from_static("1"));
        }
        res
    }
}

impl From<TokenError> for AuthError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Expired => AuthError::Expired,
            TokenError::Invalid => AuthError::Invalid,
        }
    }
}

impl AuthUser {
    /// Refuse with 403 unless the caller has `role`; an operator must also have signed in with
    /// a second factor.
    ///
    /// # Errors
    /// [`AuthError::WrongRole`], or [`AuthError::SecondFactorRequired`] for an operator.
    pub fn require(&self, role: Role) -> Result<(), AuthError> {
        if self.role != role {
            return Err(AuthError::WrongRole(role.as_str()));
        }
        if role == Role::Operator {
            self.require_second_factor()?;
        }
        Ok(())
    }

    /// Whether the caller may use operator powers: the operator role, signed in with a second
    /// factor.
    pub fn is_operator(&self) -> bool {
        self.role == Role::Operator && self.claims.mfa
    }

    /// Refuse with 403 `email_unverified` unless the account's email address is verified
    /// (top-ups, tips, private sessions, going live, payouts).
    ///
    /// # Errors
    /// [`AuthError::EmailUnverified`].
    pub fn require_verified(&self) -> Result<(), AuthError> {
        if self.claims.email_verified {
            Ok(())
        } else {
            Err(AuthError::EmailUnverified)
        }
    }

    /// Refuse with 403 `second_factor_required` unless the caller signed in with a second
    /// factor (operator routes, payouts).
    ///
    /// # Errors
    /// [`AuthError::SecondFactorRequired`].
    pub fn require_second_factor(&self) -> Result<(), AuthError> {
        if self.claims.mfa {
            Ok(())
        } else {
            Err(AuthError::SecondFactorRequired)
        }
    }

    /// Verify a raw token: signature and claims, then the revocation list in Redis (a cache of
    /// auth's table, refilled by auth when Redis restarts empty).
    ///
    /// # Errors
    /// An invalid, expired or revoked token, or Redis unreachable.
    pub async fn from_token(tokens: &Tokens, redis: &RedisHandle, token: &str) -> Result<Self, AuthError> {
        let claims = tokens.verify(token)?;
        match redis.is_token_revoked(claims.jti, claims.fam).await {
            Ok(Some(false)) => {}
            Ok(Some(true)) => return Err(AuthError::Invalid),
            // Redis came back empty: refuse (503) until auth has refilled the revocations from
            // PostgreSQL (within a second or two), never let a revoked token through.
            Ok(None) => {
                tracing::warn!("the revocation cache is not loaded yet; refusing the token for now");
                return Err(AuthError::Unavailable);
            }
            Err(e) => {
                tracing::error!(error.message = %e, "failed to check token revocation");
                return Err(AuthError::Unavailable);
            }
        }
        Ok(Self { user_id: claims.sub, role: claims.role, claims })
    }
}

/// The bearer token of a request's `Authorization` header, if any.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(actix_web::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

impl FromRequest for AuthUser {
    type Error = AuthError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer_token(req).map(str::to_owned);
        let tokens = req.app_data::<web::Data<Tokens>>().cloned();
        let redis = req.app_data::<web::Data<RedisHandle>>().cloned();
        Box::pin(async move {
            let token = token.ok_or(AuthError::Missing)?;
            let (Some(tokens), Some(redis)) = (tokens, redis) else {
                tracing::error!("AuthUser used in an app without Tokens and RedisHandle data");
                return Err(AuthError::Unavailable);
            };
            AuthUser::from_token(&tokens, &redis, &token).await
        })
    }
}
