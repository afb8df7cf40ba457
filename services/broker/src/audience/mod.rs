//! Audience numbers: signaling's view spans and room counts, consumed from a Redis Stream into
//! PostgreSQL ([`consumer`], [`store`]), turned into views, unique viewers, peak and watch time
//! ([`numbers`]), and reported per room, showcase and artist ([`reports`]).

pub(crate) mod consumer;
pub(crate) mod numbers;
pub mod reports;
pub(crate) mod store;
