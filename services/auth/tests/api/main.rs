//! Auth integration tests: each test runs the service on port 0 against its own database and
//! Redis prefix.

mod directory;
mod helpers;
mod load;
mod login;
mod openapi;
mod password_reset;
mod rate_limits;
mod refresh;
mod sessions;
mod signup;
mod smtp;
mod tokens;
mod two_factor;
mod verify_email;
