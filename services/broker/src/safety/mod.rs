//! Trust and safety in the broker: room moderation (kick, ban, mute), creators' rules (slow
//! mode, word blocklist, blocked regions), abuse reports and the audit log. See
//! `docs/safety.md`.
//!
//! - [`store`]: the tables (`user_bans`, `room_mutes`, `creator_safety`, `abuse_reports`,
//!   `audit_log`).
//! - [`reports`]: users' reports and the operators' queue.
//!
//! Enforcement elsewhere: signaling asks [`Broker::policy`] (through `RoomControl::policy`) on
//! every join and caches it for chat; the relay asks `RoomControl::banned_on_slot` before every
//! session; the Livepeer access-control webhook asks [`Broker::may_play`].

pub mod reports;
pub mod store;

use crate::broker::Broker;
use crate::domain::{end_reason, MediaMode, RoomKind, RoomStatus};
use crate::error::BrokerError;
use crate::presence;
use chrono::{Duration, Utc};
use serde::{Deserialize, Serialize};
use tandem_shared::audit::{Actor, AuditAction, AuditEntry};
use tandem_shared::auth::AuthError;
use tandem_shared::events::{publish, room_channel, BusEvent};
use tandem_shared::geo::{Place, Region};
use tandem_shared::ids::{Role, RoomId, SlotId, UserId};
use tandem_shared::moderation::{
    ModAction, ModerationRequest, Muted, Removal, RoomPolicy, MAX_BLOCKED_REGIONS, MAX_BLOCKED_WORDS,
    MAX_BLOCKED_WORD_CHARS, MAX_SLOW_MODE_SECS,
};
use tandem_shared::slot_release::{self, SlotRelease};
use utoipa::ToSchema;

/// A creator's rules for their rooms.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SafetySettings {
    /// Seconds a user waits between chat lines (0–3600; 0: off).
    #[serde(default)]
    pub slow_mode_secs: u32,
    /// Words and phrases refused in chat and prompt proposals (whole words, any case; at most
    /// 500 of 1–64 characters).
    #[serde(default)]
    pub blocked_words: Vec<String>,
    /// ISO 3166 regions (`FR`, `US-TX`) whose viewers cannot see or join these rooms (at most
    /// 300).
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub blocked_regions: Vec<Region>,
}

impl SafetySettings {
    fn from_row(row: store::SafetyRow) -> Self {
        Self {
            slow_mode_secs: u32::try_from(row.slow_mode_secs).unwrap_or(0),
            blocked_words: row.blocked_words,
            blocked_regions: row.blocked_regions.iter().filter_map(|r| Region::parse(r).ok()).collect(),
        }
    }

    /// Trim, lower-case and deduplicate the words; check the bounds.
    fn normalized(mut self) -> Result<Self, BrokerError> {
        if self.slow_mode_secs > MAX_SLOW_MODE_SECS {
            return Err(BrokerError::Validation(format!("slow_mode_secs must be 0-{MAX_SLOW_MODE_SECS}")));
        }
        let mut words: Vec<String> = Vec::with_capacity(self.blocked_words.len());
        for w in &self.blocked_words {
            let w = w.trim().to_lowercase();
            if w.is_empty() || w.chars().count() > MAX_BLOCKED_WORD_CHARS || w.chars().any(char::is_control) {
                return Err(BrokerError::Validation(format!(
                    "blocked words are 1-{MAX_BLOCKED_WORD_CHARS} characters without control characters"
                )));
            }
            if !words.contains(&w) {
                words.push(w);
            }
        }
        if words.len() > MAX_BLOCKED_WORDS {
            return Err(BrokerError::Validation(format!("at most {MAX_BLOCKED_WORDS} blocked words")));
        }
        self.blocked_words = words;
        self.blocked_regions.sort();
        self.blocked_regions.dedup();
        if self.blocked_regions.len() > MAX_BLOCKED_REGIONS {
            return Err(BrokerError::Validation(format!("at most {MAX_BLOCKED_REGIONS} blocked regions")));
        }
        Ok(self)
    }
}

impl Broker {
    /// 403 `verification_required` unless billing says `creator` is verified (nothing to ask
    /// when this process has no payment gate: tests of the broker alone).
    ///
    /// # Errors
    /// 403 `verification_required`; 503 when billing cannot answer.
    pub async fn require_verified(&self, creator: UserId) -> Result<(), BrokerError> {
        let Some(gate) = self.core.hooks.payment() else { return Ok(()) };
        match gate.creator_verified(creator).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(BrokerError::verification_required()),
            Err(e) => {
                tracing::error!(error.cause_chain = ?e, "billing cannot say whether a creator is verified");
                Err(BrokerError::Unavailable("billing"))
            }
        }
    }

    /// Whether `user` is banned from `creator`'s rooms.
    ///
    /// # Errors
    /// Database errors.
    pub async fn is_banned(&self, creator: UserId, user: UserId) -> Result<bool, BrokerError> {
        Ok(store::is_banned(&self.core.db, creator, user).await?)
    }

    /// A creator's rules.
    ///
    /// # Errors
    /// Database errors.
    pub async fn safety_settings(&self, creator: UserId) -> Result<SafetySettings, BrokerError> {
        Ok(SafetySettings::from_row(store::settings(&self.core.db, creator).await?))
    }

    /// Replace a creator's rules, tell their live room, write the audit log.
    ///
    /// # Errors
    /// 400 out of bounds; database errors.
    pub async fn set_safety_settings(
        &self,
        creator: UserId,
        settings: SafetySettings,
    ) -> Result<SafetySettings, BrokerError> {
        let s = settings.normalized()?;
        let row = store::SafetyRow {
            slow_mode_secs: i32::try_from(s.slow_mode_secs).unwrap_or(0),
            blocked_words: s.blocked_words.clone(),
            blocked_regions: s.blocked_regions.iter().map(|r| r.to_string()).collect(),
        };
        store::put_settings(&self.core.db, creator, &row).await?;
        if let Some(room) = crate::store::live_room_of_host(&self.core.db, creator).await? {
            let ev = BusEvent::RoomPolicyChanged { room_id: room.room_id, slow_mode_secs: s.slow_mode_secs };
            if let Err(e) = publish(&self.core.redis, &room_channel(&self.core.redis, room.room_id), &ev).await {
                tracing::warn!(error.cause_chain = ?e, "failed to announce new room rules (nodes refresh within seconds)");
            }
        }
        self.audit(AuditEntry {
            actor: Actor::User { user_id: creator },
            action: AuditAction::SafetySettingsChanged,
            target_user: None,
            room_id: None,
            reason: "settings changed".into(),
            service: "broker".into(),
            details: serde_json::json!({
                "slow_mode_secs": s.slow_mode_secs,
                "blocked_words": s.blocked_words.len(),
                "blocked_regions": s.blocked_regions,
            }),
        })
        .await;
        Ok(s)
    }

    /// Whether a viewer at `place` may see and join `creator`'s rooms.
    ///
    /// # Errors
    /// Database errors.
    pub async fn geo_allowed(&self, creator: UserId, place: &Place) -> Result<bool, BrokerError> {
        if place.country.is_none() {
            return Ok(true);
        }
        let s = self.safety_settings(creator).await?;
        Ok(!place.in_any(&s.blocked_regions))
    }

    /// What signaling enforces in `room`, and whether `user` is banned from it.
    ///
    /// # Errors
    /// Database errors.
    pub async fn policy(&self, room: RoomId, user: Option<UserId>) -> Result<Option<RoomPolicy>, BrokerError> {
        let Some(row) = crate::store::room(&self.core.db, room).await? else { return Ok(None) };
        let settings = self.safety_settings(row.host_id).await?;
        let muted = store::mutes(&self.core.db, room)
            .await?
            .into_iter()
            .map(|(user_id, until)| Muted { user_id, until })
            .collect();
        let banned = match user {
            Some(u) if u != row.host_id => store::is_banned(&self.core.db, row.host_id, u).await?,
            _ => false,
        };
        Ok(Some(RoomPolicy {
            room_id: room,
            host_id: row.host_id,
            muted,
            slow_mode_secs: settings.slow_mode_secs,
            blocked_words: settings.blocked_words,
            blocked_regions: settings.blocked_regions,
            banned,
        }))
    }

    /// Whether `user` is banned from the room of `slot`.
    ///
    /// # Errors
    /// Database errors.
    pub async fn banned_on_slot(&self, slot: SlotId, user: UserId) -> Result<bool, BrokerError> {
        let Some((_, host)) = store::slot_host(&self.core.db, slot).await? else { return Ok(false) };
        if host == user {
            return Ok(false);
        }
        self.is_banned(host, user).await
    }

    /// Append to the audit log (failures are logged: the action already happened).
    pub async fn audit(&self, entry: AuditEntry) {
        if let Err(e) = store::append_audit(&self.core.db, &entry).await {
            tracing::error!(action = entry.action.as_str(), error.message = %e, "failed to write the audit log");
            metrics::counter!("audit_write_failures_total").increment(1);
        }
    }

    /// The actor's standing in `room`: its host, or an operator signed in with a second factor;
    /// anyone else is refused.
    async fn moderator_role(
        &self,
        room: &crate::store::RoomRow,
        actor: UserId,
        second_factor: bool,
    ) -> Result<Role, BrokerError> {
        if room.host_id == actor {
            return Ok(Role::Creator);
        }
        match self.user(actor).await? {
            Some(u) if u.role == Role::Operator && second_factor => Ok(Role::Operator),
            Some(u) if u.role == Role::Operator => Err(AuthError::SecondFactorRequired.into()),
            _ => Err(BrokerError::Forbidden("only the room's host or an operator moderates it")),
        }
    }

    /// Kick, ban, mute, unban or unmute (see [`ModAction`]); writes the audit log.
    ///
    /// # Errors
    /// 400 invalid request; 403 not the host or an operator, or the target is the host; 404
    /// unknown room or user; 409 `room_ended` (kick, mute).
    pub async fn moderate(&self, req: &ModerationRequest) -> Result<(), BrokerError> {
        req.validate().map_err(BrokerError::Validation)?;
        let room = crate::store::room(&self.core.db, req.room_id).await?.ok_or(BrokerError::NotFound("room"))?;
        let role = self.moderator_role(&room, req.actor, req.second_factor).await?;
        if req.target == room.host_id {
            return Err(BrokerError::Forbidden("a room's host cannot be moderated in it"));
        }
        if self.user(req.target).await?.is_none() {
            return Err(BrokerError::NotFound("user"));
        }
        let live = room.status == RoomStatus::Live;
        let reason = req.reason.trim();
        let until = req.minutes.map(|m| Utc::now() + Duration::minutes(i64::from(m)));
        match req.action {
            ModAction::Kick | ModAction::Mute if !live => {
                return Err(BrokerError::conflict("room_ended", "the room has ended"));
            }
            ModAction::Kick => self.remove_from_room(&room, req.target, Removal::Kicked).await?,
            ModAction::Ban => {
                store::insert_ban(
                    &self.core.db,
                    Some(room.host_id),
                    req.target,
                    Some(room.room_id),
                    reason,
                    req.actor,
                    until,
                )
                .await?;
                self.refuse_pending_requests(room.host_id, req.target).await?;
                if live {
                    self.remove_from_room(&room, req.target, Removal::Banned).await?;
                }
            }
            ModAction::Unban => {
                store::lift_bans(&self.core.db, room.host_id, req.target, req.actor).await?;
            }
            ModAction::Mute => {
                store::upsert_mute(&self.core.db, room.room_id, req.target, reason, req.actor, until).await?;
                self.announce_mute(room.room_id, req.target, true, until.map(|u| u.timestamp_millis())).await;
            }
            ModAction::Unmute => {
                if store::delete_mute(&self.core.db, room.room_id, req.target).await? {
                    self.announce_mute(room.room_id, req.target, false, None).await;
                }
            }
        }
        let action = match req.action {
            ModAction::Kick => AuditAction::Kick,
            ModAction::Ban => AuditAction::Ban,
            ModAction::Unban => AuditAction::Unban,
            ModAction::Mute => AuditAction::Mute,
            ModAction::Unmute => AuditAction::Unmute,
        };
        self.audit(AuditEntry {
            actor: Actor::User { user_id: req.actor },
            action,
            target_user: Some(req.target),
            room_id: Some(room.room_id),
            reason: reason.to_string(),
            service: "broker".into(),
            details: serde_json::json!({
                "minutes": req.minutes,
                "creator_id": room.host_id,
                "as": if role == Role::Operator { "operator" } else { "host" },
            }),
        })
        .await;
        metrics::counter!("broker_moderation_actions_total", "action" => req.action.as_str()).increment(1);
        tracing::info!(room_id = %room.room_id, target = %req.target, action = req.action.as_str(), "moderation");
        Ok(())
    }

    /// Ban `user` from every room (an operator acting on a report); they leave `room` if given.
    ///
    /// # Errors
    /// Database errors.
    pub async fn platform_ban(
        &self,
        operator: UserId,
        user: UserId,
        room: Option<RoomId>,
        reason: &str,
        until: Option<chrono::DateTime<Utc>>,
    ) -> Result<(), BrokerError> {
        store::insert_ban(&self.core.db, None, user, room, reason, operator, until).await?;
        for creator in crate::safety::reports::pending_creators_of(&self.core.db, user).await? {
            self.refuse_pending_requests(creator, user).await?;
        }
        if let Some(room) = room {
            if let Some(row) = crate::store::room(&self.core.db, room).await? {
                if row.status == RoomStatus::Live && row.host_id != user {
                    self.remove_from_room(&row, user, Removal::Banned).await?;
                }
            }
        }
        if let Some(live) = crate::store::live_room_of_host(&self.core.db, user).await? {
            self.end_room(live.room_id, end_reason::MODERATED).await?;
        }
        self.audit(AuditEntry {
            actor: Actor::User { user_id: operator },
            action: AuditAction::PlatformBan,
            target_user: Some(user),
            room_id: room,
            reason: reason.to_string(),
            service: "broker".into(),
            details: serde_json::json!({ "until": until }),
        })
        .await;
        Ok(())
    }

    /// Take `user` out of a live room everywhere: every signaling node takes their sockets
    /// out (`member.removed`), the stage is cleared if they were on it, relays end their
    /// sessions on the room's slots, and a private room whose guest they are ends.
    async fn remove_from_room(
        &self,
        room: &crate::store::RoomRow,
        user: UserId,
        removal: Removal,
    ) -> Result<(), BrokerError> {
        let redis = &self.core.redis;
        let ev = BusEvent::MemberRemoved { room_id: room.room_id, user_id: user, removal };
        if let Err(e) = publish(redis, &room_channel(redis, room.room_id), &ev).await {
            tracing::error!(room_id = %room.room_id, error.cause_chain = ?e, "failed to announce a removal");
            return Err(BrokerError::Unavailable("live state"));
        }
        if room.kind == RoomKind::Broadcast && presence::clear_stage_of(redis, room.room_id, user).await? {
            self.stage_changed(room).await?;
        }
        if room.media == MediaMode::Relay {
            let slot_ids =
                crate::store::slots(&self.core.db, room.room_id).await?.into_iter().map(|s| s.slot_id).collect();
            let release = SlotRelease { room_id: room.room_id, slot_ids, generation: None, user_id: Some(user) };
            let ttl = self.settings.media_token_ttl;
            if let Err(e) = slot_release::announce(redis, &release, ttl).await {
                tracing::warn!(room_id = %room.room_id, error.cause_chain = ?e, "failed to tell relays to end a removed user's sessions");
            }
        }
        if room.kind == RoomKind::Private && room.guest_id == Some(user) {
            self.end_room(room.room_id, end_reason::MODERATED).await?;
        }
        Ok(())
    }

    async fn announce_mute(&self, room: RoomId, user: UserId, muted: bool, until: Option<i64>) {
        let redis = &self.core.redis;
        let ev = BusEvent::MemberMuted { room_id: room, user_id: user, muted, until };
        if let Err(e) = publish(redis, &room_channel(redis, room), &ev).await {
            tracing::warn!(room_id = %room, error.cause_chain = ?e, "failed to announce a mute (nodes refresh within seconds)");
        }
    }

    /// Decline `fan`'s pending private requests to `creator` and tell both.
    async fn refuse_pending_requests(&self, creator: UserId, fan: UserId) -> Result<(), BrokerError> {
        for request_id in store::decline_pending(&self.core.db, creator, fan).await? {
            let ev = BusEvent::PrivateDeclined { request_id, reason: "declined".into() };
            self.notify(fan, &ev).await;
            self.notify(creator, &ev).await;
        }
        Ok(())
    }

    /// Whether `user` may play `slot` now (the Livepeer access-control webhook): the slot's
    /// room is live and the user is not banned from it.
    ///
    /// # Errors
    /// Database errors.
    pub async fn may_play(&self, slot: SlotId, user: UserId) -> Result<bool, BrokerError> {
        let live = crate::store::live_slots(&self.core.db, &[slot]).await?;
        if live.is_empty() {
            return Ok(false);
        }
        Ok(!self.banned_on_slot(slot, user).await?)
    }
}
