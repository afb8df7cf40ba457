//! Integration tests of the signaling service: two nodes, real PostgreSQL and Redis.

mod helpers;

mod ai_rounds;
mod audience;
mod connect;
mod decoder;
mod drain;
mod errors;
mod fanout;
mod faults;
mod geo;
mod moderation;
mod rate_limits;
mod relay;
mod resume;
mod slow;
mod sockets;
