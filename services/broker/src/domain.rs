//! Domain values of the broker, parsed once at the edge: room kinds and states, media modes,
//! slot names, presence and end reasons.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use utoipa::ToSchema;

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $s:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $s)] $variant),+
        }

        // By hand: the derive cannot read a `rename` passed through a macro and documented the
        // variant names instead of the strings sent.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::Type::String)
                    .enum_values(Some([$($s),+]))
                    .into()
            }
        }

        impl ToSchema for $name {}

        impl $name {
            /// The lowercase name stored in the database and sent in JSON.
            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $s),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl sqlx::Type<sqlx::Postgres> for $name {
            fn type_info() -> sqlx::postgres::PgTypeInfo {
                <String as sqlx::Type<sqlx::Postgres>>::type_info()
            }
            fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <String as sqlx::Type<sqlx::Postgres>>::compatible(ty)
            }
        }

        impl<'r> sqlx::Decode<'r, sqlx::Postgres> for $name {
            fn decode(value: sqlx::postgres::PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                let s = <&str as sqlx::Decode<sqlx::Postgres>>::decode(value)?;
                s.parse::<$name>().map_err(Into::into)
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($s => Ok($name::$variant),)+
                    other => Err(format!(concat!("unknown ", stringify!($name), " `{}`"), other)),
                }
            }
        }
    };
}

string_enum!(
    /// What a room is for.
    RoomKind {
        /// One creator to many viewers (plus an optional stage guest).
        Broadcast => "broadcast",
        /// A paid 1-to-1 session between a creator and a fan.
        Private => "private",
    }
);

string_enum!(
    /// Whether a room is still going.
    RoomStatus {
        /// Open: slots are held.
        Live => "live",
        /// Closed with a reason; slots released.
        Ended => "ended",
    }
);

string_enum!(
    /// How the media of a room flows.
    MediaMode {
        /// Tandem's own WebRTC relay (WHIP/WHEP with per-slot tokens).
        Relay => "relay",
        /// Livepeer Studio streams (WHIP/RTMP ingest, WHEP/HLS playback).
        Livepeer => "livepeer",
        /// Private rooms only: browsers connect directly, signaling carries SDP/ICE.
        P2p => "p2p",
    }
);

string_enum!(
    /// The two slots every room owns.
    SlotName {
        /// The creator's camera.
        Host => "host",
        /// The fan's camera (private) or a stage guest (broadcast).
        Guest => "guest",
    }
);

string_enum!(
    /// Whether a slot is receiving media.
    SlotState {
        /// Nothing is being published.
        Idle => "idle",
        /// The publisher is sending media.
        Publishing => "publishing",
    }
);

string_enum!(
    /// A creator's availability as they set it.
    PresenceStatus {
        /// Takes private requests.
        Online => "online",
        /// Signed in but not taking requests.
        Away => "away",
        /// Not available.
        Offline => "offline",
    }
);

string_enum!(
    /// State of a private request.
    RequestStatus {
        /// Waiting for the creator.
        Pending => "pending",
        /// Became a private room.
        Accepted => "accepted",
        /// The creator said no.
        Declined => "declined",
        /// The fan withdrew it.
        Cancelled => "cancelled",
        /// Nobody answered in time.
        Expired => "expired",
    }
);

string_enum!(
    /// Where a room's AI effect runs.
    AiMode {
        /// A Daydream StreamDiffusion stream (with `DAYDREAM_API_KEY`).
        Daydream => "daydream",
        /// No account: the creator's browser applies a local preview effect from the same
        /// prompt and params, published through the room's own host slot.
        Local => "local",
    }
);

string_enum!(
    /// Whether a room's AI effect is running.
    AiStatus {
        /// Running: changes apply.
        Active => "active",
        /// The room ended; the stream is (being) deleted.
        Ended => "ended",
    }
);

string_enum!(
    /// Where a showcase is in its life.
    ShowcaseStatus {
        /// On the schedule, not started.
        Scheduled => "scheduled",
        /// Its room is open; a segment is running.
        Live => "live",
        /// Its last segment ended, or its room ended.
        Ended => "ended",
        /// Called off before it started (with a reason).
        Cancelled => "cancelled",
    }
);

/// Why rooms end (stored in `rooms.end_reason`, sent in `room.ended`).
pub mod end_reason {
    /// The host ended it.
    pub const HOST_ENDED: &str = "host_ended";
    /// The private guest hung up.
    pub const GUEST_ENDED: &str = "guest_ended";
    /// An operator ended it.
    pub const OPERATOR_ENDED: &str = "operator_ended";
    /// The host or private guest stopped heartbeating for the grace period.
    pub const HEARTBEAT_LOST: &str = "heartbeat_lost";
    /// The host's stream went idle (provider webhook or relay report) for the grace period.
    pub const STREAM_IDLE: &str = "stream_idle";
    /// The creator accepted a private request while broadcasting.
    pub const WENT_PRIVATE: &str = "went_private";
    /// Billing refused to start the session.
    pub const PAYMENT_REFUSED: &str = "payment_refused";
    /// A showcase's last segment ended, or its artist or an operator ended it.
    pub const SHOWCASE_ENDED: &str = "showcase_ended";
    /// The private guest was kicked or banned by the host or an operator.
    pub const MODERATED: &str = "moderated";
}

/// Whether `s` is a usable end reason: 1–64 of `a-z`, `0-9`, `_`.
pub fn valid_end_reason(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// A room title: trimmed, at most 140 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title(String);

impl Title {
    /// Parse a user-supplied title.
    ///
    /// # Errors
    /// Too long or containing control characters.
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if t.chars().count() > 140 {
            return Err("title must be at most 140 characters".into());
        }
        if t.chars().any(char::is_control) {
            return Err("title must not contain control characters".into());
        }
        Ok(Self(t.to_string()))
    }
}

impl AsRef<str> for Title {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip() {
        for m in [MediaMode::Relay, MediaMode::Livepeer, MediaMode::P2p] {
            assert_eq!(m.as_str().parse::<MediaMode>(), Ok(m));
            assert_eq!(serde_json::to_string(&m).unwrap(), format!("\"{m}\""));
        }
        assert!("rtmp".parse::<MediaMode>().is_err());
        assert_eq!("online".parse::<PresenceStatus>(), Ok(PresenceStatus::Online));
        assert!(serde_json::from_str::<PresenceStatus>("\"busy\"").is_err());
    }

    #[test]
    fn the_documented_values_are_the_ones_sent() {
        use utoipa::PartialSchema;
        let values = |schema: utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>| {
            serde_json::to_value(schema).unwrap()["enum"].clone()
        };
        assert_eq!(values(MediaMode::schema()), serde_json::json!(["relay", "livepeer", "p2p"]));
        assert_eq!(values(RoomStatus::schema()), serde_json::json!(["live", "ended"]));
    }

    #[test]
    fn titles_and_reasons_are_checked() {
        assert_eq!(Title::parse("  Hello  ").unwrap().as_ref(), "Hello");
        assert!(Title::parse(&"x".repeat(141)).is_err());
        assert!(Title::parse("a\u{0007}b").is_err());
        assert!(valid_end_reason("heartbeat_lost"));
        assert!(!valid_end_reason(""));
        assert!(!valid_end_reason("Drop table"));
    }
}
