//! Auth integration tests: each test runs the service on port 0 against its own database and
//! Redis prefix.

mod directory;
mod helpers;
mod login;
mod openapi;
mod rate_limits;
mod refresh;
mod signup;
mod tokens;
