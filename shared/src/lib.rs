//! What every Tandem service shares.
//!
//! # Layout
//! - [`config`]: settings read from the environment, with documented defaults.
//! - [`client_addr`]: the client address of a request, behind trusted proxies or not.
//! - [`hooks`]: the contracts between services (payment gate, room control, user directory).
//! - [`contracts`]: their remote implementations and internal routes (internal HTTP).
//! - [`service_auth`]: service tokens that authenticate internal calls.
//! - [`ids`]: typed identifiers and the [`ids::Role`] of a user.
//! - [`error`]: the JSON error body `{code, message}` every service answers with.
//! - [`events`]: events published on Redis for signaling to deliver to users and rooms.
//! - [`jwt`]: access-token claims, signing keys, the JWKS document and verification.
//! - [`audience`]: view spans and room counts from signaling to the broker (a Redis Stream).
//! - [`live`]: heartbeats and viewer counts in Redis (key layout shared by broker and signaling).
//! - [`media_token`]: HMAC-signed per-slot publish/play tokens (broker signs, relay verifies).
//! - [`slot_release`]: the broker tells relays that a room's slots are released.
//! - [`moderation`]: kicks, bans, mutes, slow mode and word blocklists, as services share them.
//! - [`audit`]: the append-only log of privileged actions (the broker keeps it).
//! - [`geo`]: the client's country from a MaxMind-format database, for geo-blocking.
//! - [`auth`]: the [`auth::AuthUser`] extractor that verifies a bearer token on a request.
//! - [`db`]: the PostgreSQL pool and the embedded migrations.
//! - [`redis`]: the Redis connection manager and per-deployment key prefix.
//! - [`health`], [`metrics`]: `/healthz`, `/readyz` and `/metrics` on every service.
//! - [`openapi`]: what every service's OpenAPI document shares (the bearer scheme, the error
//!   responses every route can give).
//! - [`rate_limit`]: per-user and per-address rate limits in Redis (GCRA), and the middleware
//!   that applies them to write routes.
//! - [`server`]: the [`server::Core`] context and the actix-web app every binary serves.
//! - [`telemetry`]: tracing subscriber set-up.
//! - [`webhook`]: bounded `t=…,v1=…` webhook signature checks and a capped body reader.
//! - `testing` (feature `test-support`): per-test databases and Redis prefixes.

pub mod audience;
pub mod audit;
pub mod auth;
pub mod client_addr;
pub mod config;
pub mod contracts;
pub mod db;
pub mod error;
pub mod events;
pub mod geo;
pub mod health;
pub mod hooks;
pub mod ids;
pub mod jwt;
pub mod live;
pub mod media_token;
pub mod metrics;
pub mod moderation;
pub mod openapi;
pub mod rate_limit;
pub mod redis;
pub mod server;
pub mod service_auth;
pub mod slot_release;
pub mod telemetry;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod webhook;
