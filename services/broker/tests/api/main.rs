//! Broker integration tests against real PostgreSQL and Redis.

mod helpers;
mod livepeer;
mod private;
mod rate_limits;
mod reaper;
mod rooms;
mod standin;
mod webhooks;
