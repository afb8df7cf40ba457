//! Broker integration tests against real PostgreSQL and Redis.

mod accounts;
mod ai;
mod daydream_standin;
mod helpers;
mod livepeer;
mod multistream;
mod private;
mod questions;
mod rate_limits;
mod reaper;
mod reports;
mod rooms;
mod showcases;
mod standin;
mod webhooks;
