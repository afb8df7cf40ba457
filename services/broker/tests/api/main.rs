//! Broker integration tests against real PostgreSQL and Redis.

mod helpers;
mod livepeer;
mod private;
mod reaper;
mod rooms;
mod standin;
mod webhooks;
