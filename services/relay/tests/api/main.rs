//! Integration tests of the relay: real webrtc-rs clients publish over WHIP and play over
//! WHEP against a relay bound to loopback.

mod caps;
mod helpers;
mod release;
mod stage;
mod turn;
mod whip_whep;
