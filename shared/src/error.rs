//! The JSON error body every Tandem endpoint answers with, and helpers to build it.
//!
//! Every error a client sees is `{"code": "...", "message": "..."}`: `code` is stable and
//! machine-readable, `message` is for people. Internal details are logged, never returned.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, HttpResponseBuilder};
use serde::{Deserialize, Serialize};

/// The body of every error response.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[schema(as = ErrorDoc)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `invalid_credentials`.
    pub code: String,
    /// Human-readable explanation; never internal details.
    pub message: String,
}

/// Build an error response with the given status, code and message.
pub fn error_response(status: StatusCode, code: &str, message: impl Into<String>) -> HttpResponse {
    HttpResponseBuilder::new(status).json(ErrorBody { code: code.to_string(), message: message.into() })
}

/// Write an error and its chain of causes, for `Debug` impls of service errors.
pub fn error_chain_fmt(e: &impl std::error::Error, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    writeln!(f, "{e}")?;
    let mut current = e.source();
    while let Some(cause) = current {
        writeln!(f, "Caused by:\n\t{cause}")?;
        current = cause.source();
    }
    Ok(())
}

/// The name of the database constraint a `sqlx::Error` violated, if any.
///
/// Services use it to turn a named unique violation into a 409 with a stable code.
pub fn violated_constraint(e: &sqlx::Error) -> Option<&str> {
    match e {
        sqlx::Error::Database(db) => db.constraint(),
        _ => None,
    }
}

/// Errors raised by the shared request extractors (JSON body, path, query), rendered as
/// `400 invalid_json`, `413 payload_too_large`, `415 unsupported_media_type` or `400 invalid_path`.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The body was not the JSON the endpoint expects.
    #[error("{0}")]
    InvalidJson(String),
    /// The body was larger than the endpoint accepts.
    #[error("request body is too large")]
    TooLarge,
    /// The body was not `application/json`.
    #[error("expected Content-Type: application/json")]
    UnsupportedMediaType,
    /// A path segment did not parse (for example a malformed id).
    #[error("{0}")]
    InvalidPath(String),
    /// A query parameter did not parse.
    #[error("{0}")]
    InvalidQuery(String),
}

impl actix_web::ResponseError for InputError {
    fn status_code(&self) -> StatusCode {
        match self {
            InputError::InvalidJson(_) | InputError::InvalidPath(_) | InputError::InvalidQuery(_) => {
                StatusCode::BAD_REQUEST
            }
            InputError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            InputError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let code = match self {
            InputError::InvalidJson(_) => "invalid_json",
            InputError::TooLarge => "payload_too_large",
            InputError::UnsupportedMediaType => "unsupported_media_type",
            InputError::InvalidPath(_) => "invalid_path",
            InputError::InvalidQuery(_) => "invalid_query",
        };
        error_response(self.status_code(), code, self.to_string())
    }
}

/// Extractor configuration that renders body, path and query errors as [`ErrorBody`].
pub fn extractor_configs(cfg: &mut actix_web::web::ServiceConfig, json_limit: usize) {
    use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
    use actix_web::web;
    cfg.app_data(web::JsonConfig::default().limit(json_limit).error_handler(|err, _req| {
        let e = match &err {
            JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => InputError::TooLarge,
            JsonPayloadError::ContentType => InputError::UnsupportedMediaType,
            JsonPayloadError::Deserialize(de) => InputError::InvalidJson(format!("invalid JSON body: {de}")),
            _ => InputError::InvalidJson("invalid JSON body".into()),
        };
        e.into()
    }))
    .app_data(
        web::PathConfig::default()
            .error_handler(|err: PathError, _req| InputError::InvalidPath(format!("invalid path: {err}")).into()),
    )
    .app_data(
        web::QueryConfig::default().error_handler(|err: QueryPayloadError, _req| {
            InputError::InvalidQuery(format!("invalid query: {err}")).into()
        }),
    );
}
