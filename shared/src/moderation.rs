//! Room moderation as the services share it: what a host or operator may do to a user
//! ([`ModAction`]), the request signaling forwards to the broker ([`ModerationRequest`]), and the
//! policy signaling enforces in a room ([`RoomPolicy`]: mutes, slow mode, the creator's word
//! blocklist and blocked regions).
//!
//! The broker owns all of it (bans, mutes, creators' settings; `docs/safety.md`). A ban covers
//! the room's creator: every room of theirs, now and later, until it expires or is lifted; a
//! platform ban (operators, from the report queue) covers every room.

use crate::geo::Region;
use crate::ids::{RoomId, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a host or operator does to a user of a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ModAction {
    /// Out of the room now; may come back.
    Kick,
    /// Out now, and kept out of the creator's rooms for `minutes` or for good.
    Ban,
    /// Lift a ban by this creator.
    Unban,
    /// No chat (nor prompt proposals) in the room for `minutes` or until the room ends.
    Mute,
    /// Lift a mute.
    Unmute,
}

impl ModAction {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            ModAction::Kick => "kick",
            ModAction::Ban => "ban",
            ModAction::Unban => "unban",
            ModAction::Mute => "mute",
            ModAction::Unmute => "unmute",
        }
    }
}

/// Why a user left a room against their will, as the room is told (never the reason text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Removal {
    /// Kicked: may rejoin.
    Kicked,
    /// Banned: may not rejoin.
    Banned,
}

/// Longest moderation reason, characters.
pub const MAX_REASON_CHARS: usize = 500;
/// Longest timed ban or mute, minutes (a year); longer is "for good" (no `minutes`).
pub const MAX_MINUTES: u32 = 525_600;

/// A moderation action on `target` in `room_id`, by `actor` (the room's host or an operator).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModerationRequest {
    /// The room it happens in (for a ban: whose creator's rooms the user is kept out of).
    pub room_id: RoomId,
    /// Who acts.
    pub actor: UserId,
    /// Who is acted on.
    pub target: UserId,
    /// What.
    pub action: ModAction,
    /// Why, for the audit log and the target's appeal; never shown to the room.
    pub reason: String,
    /// How long a ban or mute lasts; `None`: a ban for good, a mute until the room ends.
    #[serde(default)]
    pub minutes: Option<u32>,
    /// The actor signed in with a second factor: operators need it to moderate rooms they do
    /// not host.
    #[serde(default)]
    pub second_factor: bool,
}

impl ModerationRequest {
    /// Check the reason (1–500 characters, no control characters) and the duration.
    ///
    /// # Errors
    /// A message for people.
    pub fn validate(&self) -> Result<(), String> {
        let r = self.reason.trim();
        if r.is_empty() || r.chars().count() > MAX_REASON_CHARS || r.chars().any(char::is_control) {
            return Err(format!("reason must be 1-{MAX_REASON_CHARS} characters without control characters"));
        }
        if let Some(m) = self.minutes {
            if m == 0 || m > MAX_MINUTES {
                return Err(format!("minutes must be 1-{MAX_MINUTES} (leave it out for no end)"));
            }
            if matches!(self.action, ModAction::Kick | ModAction::Unban | ModAction::Unmute) {
                return Err(format!("minutes do not apply to {}", self.action.as_str()));
            }
        }
        if self.actor == self.target {
            return Err("you cannot moderate yourself".into());
        }
        Ok(())
    }
}

/// Why the broker refused a moderation action.
#[derive(Debug, thiserror::Error)]
pub enum ModerationRefusal {
    /// Refused with a stable code (`not_found`, `forbidden`, `invalid_value`, `room_ended`)
    /// and a message for people.
    #[error("{message}")]
    Refused {
        /// Stable code.
        code: &'static str,
        /// Explanation.
        message: String,
    },
    /// The broker could not be reached or failed.
    #[error(transparent)]
    Unavailable(#[from] anyhow::Error),
}

/// A muted user of a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Muted {
    /// The user.
    pub user_id: UserId,
    /// Until when; `None`: until the room ends.
    pub until: Option<DateTime<Utc>>,
}

/// What signaling enforces in a room (the broker answers it from its tables).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomPolicy {
    /// The room.
    pub room_id: RoomId,
    /// Its creator.
    pub host_id: UserId,
    /// Users who may not chat now.
    pub muted: Vec<Muted>,
    /// Seconds a user waits between chat lines (0: off).
    pub slow_mode_secs: u32,
    /// The creator's blocked words and phrases (chat and prompt proposals).
    pub blocked_words: Vec<String>,
    /// Regions whose viewers may not see or join the creator's rooms.
    pub blocked_regions: Vec<Region>,
    /// When asked about one user: whether they are banned from the room.
    #[serde(default)]
    pub banned: bool,
}

impl RoomPolicy {
    /// Whether `user` is muted at `now`.
    pub fn is_muted(&self, user: UserId, now: DateTime<Utc>) -> bool {
        self.muted.iter().any(|m| m.user_id == user && m.until.is_none_or(|u| u > now))
    }
}

/// `s` lower-cased with every run of non-alphanumerics made one space, padded with spaces, so
/// that whole words and phrases match by substring (`" bad word "`).
fn words(s: &str) -> String {
    let w: String = s.to_lowercase().chars().map(|c| if c.is_alphanumeric() { c } else { ' ' }).collect();
    format!(" {} ", w.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Whether `text` contains one of `blocked` as a whole word or phrase, ignoring case and
/// punctuation (`"Bad-Word!"` matches `bad word`).
pub fn contains_blocked(text: &str, blocked: &[String]) -> bool {
    let normalized = words(text);
    blocked.iter().map(|b| words(b)).any(|b| !b.trim().is_empty() && normalized.contains(&b))
}

/// Most words in one creator's blocklist.
pub const MAX_BLOCKED_WORDS: usize = 500;
/// Longest blocked word or phrase, characters.
pub const MAX_BLOCKED_WORD_CHARS: usize = 64;
/// Most blocked regions of one creator.
pub const MAX_BLOCKED_REGIONS: usize = 300;
/// Longest slow-mode interval, seconds.
pub const MAX_SLOW_MODE_SECS: u32 = 3600;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocked_words_match_whole_words_and_phrases_only() {
        let list = vec!["bad".to_string(), "Very Rude".to_string(), "  ".to_string()];
        assert!(contains_blocked("this is BAD!", &list));
        assert!(contains_blocked("a very-rude thing", &list));
        assert!(!contains_blocked("badge of honour", &list));
        assert!(!contains_blocked("very polite, rude later", &list));
        assert!(!contains_blocked("anything", &[]));
    }

    #[test]
    fn requests_are_validated() {
        let r = ModerationRequest {
            room_id: RoomId::new(),
            actor: UserId::new(),
            target: UserId::new(),
            action: ModAction::Ban,
            reason: "spam".into(),
            minutes: Some(10),
            second_factor: false,
        };
        assert!(r.validate().is_ok());
        assert!(ModerationRequest { reason: " ".into(), ..r.clone() }.validate().is_err());
        assert!(ModerationRequest { minutes: Some(0), ..r.clone() }.validate().is_err());
        assert!(ModerationRequest { action: ModAction::Kick, ..r.clone() }.validate().is_err());
        assert!(ModerationRequest { target: r.actor, ..r.clone() }.validate().is_err());
    }

    #[test]
    fn mutes_expire() {
        let user = UserId::new();
        let now = Utc::now();
        let policy = RoomPolicy {
            room_id: RoomId::new(),
            host_id: UserId::new(),
            muted: vec![Muted { user_id: user, until: Some(now + chrono::Duration::seconds(5)) }],
            slow_mode_secs: 0,
            blocked_words: vec![],
            blocked_regions: vec![],
            banned: false,
        };
        assert!(policy.is_muted(user, now));
        assert!(!policy.is_muted(user, now + chrono::Duration::seconds(6)));
        assert!(!policy.is_muted(UserId::new(), now));
    }
}
