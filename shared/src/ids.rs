//! Typed identifiers: a `UserId` cannot be passed where a `RoomId` is wanted.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::Type)]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new random identifier.
            pub fn new() -> Self {
                Self(Uuid::new_v4())
            }
            /// The underlying UUID.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(u: Uuid) -> Self {
                Self(u)
            }
        }
    };
}

typed_id!(
    /// A user account (creator, fan or operator).
    UserId
);
typed_id!(
    /// A room: a broadcast or a private 1-to-1 session.
    RoomId
);
typed_id!(
    /// One of the two stream slots (`host`, `guest`) of a room.
    SlotId
);
typed_id!(
    /// A fan's request for a private session.
    RequestId
);
typed_id!(
    /// One WebSocket connection on a signaling node.
    ConnectionId
);
typed_id!(
    /// A refresh-token family: every token rotated from one login.
    TokenFamilyId
);
typed_id!(
    /// An audience prompt proposal in an AI room's voting round.
    ProposalId
);
typed_id!(
    /// A scheduled showcase: a performance and a workshop, opened as a broadcast at start.
    ShowcaseId
);
typed_id!(
    /// A viewer's question in a showcase's workshop.
    QuestionId
);

/// What a user is allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Goes live, accepts private sessions, earns.
    Creator,
    /// Watches, chats, tips and buys private sessions.
    Fan,
    /// Runs the platform; created only from the CLI.
    Operator,
}

impl Role {
    /// The lowercase name stored in the database and in tokens.
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Creator => "creator",
            Role::Fan => "fan",
            Role::Operator => "operator",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "creator" => Ok(Role::Creator),
            "fan" => Ok(Role::Fan),
            "operator" => Ok(Role::Operator),
            other => Err(format!("unknown role `{other}`")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_strings() {
        let id = RoomId::new();
        let parsed: RoomId = id.to_string().parse().unwrap();
        assert_eq!(id, parsed);
        assert!("not-a-uuid".parse::<RoomId>().is_err());
    }

    #[test]
    fn roles_parse_only_known_names() {
        assert_eq!("fan".parse::<Role>(), Ok(Role::Fan));
        assert!("admin".parse::<Role>().is_err());
        assert_eq!(serde_json::to_string(&Role::Creator).unwrap(), "\"creator\"");
    }
}
