//! The `tandem` binaries: `tandem` (every service in one process, and the operator CLI) and one
//! binary per service for a split deployment (`tandem-auth`, `tandem-broker`,
//! `tandem-signaling`, `tandem-billing`, `tandem-relay`, and `tandem-web` for the browser app and
//! the API documents).
//!
//! # Layout
//! - [`api_docs`]: the merged OpenAPI document at `/openapi.json` and Swagger UI at `/docs/`.
//! - [`web_app`]: the static browser app at `/`.
//! - [`standalone`]: how a per-service binary starts: its own settings, remote contracts for
//!   what it does not own, and a refusal to start without them.

pub mod api_docs;
pub mod standalone;
pub mod web_app;
