//! Classes of action, their default limits and how they are configured.
//!
//! Each class has a limit per user and one per client address (either may be off), read from
//! `TANDEM_RATE_<CLASS>` and `TANDEM_RATE_<CLASS>_ADDR` as `<count>/<seconds>` (for example
//! `TANDEM_RATE_WRITE=60/60`) or `off`. `TANDEM_RATE_LIMITS=off` turns every limit off (load
//! tests only). The defaults are in [`Class::defaults`] and docs/security.md.

use anyhow::Context;
use std::time::Duration;

/// `count` actions per `period`, a burst of `count` allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Actions allowed per period (at least 1).
    pub count: u32,
    /// The period (at least one second).
    pub period: Duration,
}

impl Limit {
    /// `count` per `secs` seconds.
    pub const fn per(count: u32, secs: u64) -> Self {
        Self { count, period: Duration::from_secs(secs) }
    }

    pub(crate) fn period_ms(&self) -> u64 {
        self.period.as_millis() as u64
    }

    /// Milliseconds between actions once the burst is spent (at least 1).
    pub(crate) fn interval_ms(&self) -> u64 {
        (self.period_ms() / u64::from(self.count.max(1))).max(1)
    }

    /// Parse `<count>/<seconds>`, or `off` (`None`).
    ///
    /// # Errors
    /// Anything else, a zero count or a zero period.
    pub fn parse(s: &str) -> Result<Option<Self>, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let (count, secs) = s.split_once('/').ok_or_else(|| format!("`{s}` is not <count>/<seconds> or off"))?;
        let count: u32 = count.trim().parse().map_err(|_| format!("bad count in `{s}`"))?;
        let secs: u64 = secs.trim().parse().map_err(|_| format!("bad seconds in `{s}`"))?;
        if count == 0 || secs == 0 {
            return Err(format!("`{s}`: count and seconds must be at least 1 (use off to disable)"));
        }
        Ok(Some(Self::per(count, secs)))
    }
}

/// What a check does when Redis cannot be asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailMode {
    /// Let the action through (the action itself needs Redis or is cheap and idempotent).
    Open,
    /// Refuse with 503 `unavailable` (the action is expensive, unauthenticated or moves money).
    Closed,
}

/// A class of action sharing one budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// Signup, login, refresh, logout (argon2 and token work, unauthenticated).
    Auth,
    /// Ordinary writes: rooms, stage, presence, private requests, pricing.
    Write,
    /// `POST /v1/rooms/{id}/heartbeat`.
    Heartbeat,
    /// Top-ups (Stripe calls), tips and payout requests.
    Money,
    /// Operator actions.
    Admin,
    /// Provider webhooks (per address only; signatures are checked after).
    Webhook,
    /// Signaling `join`, `leave`.
    WsJoin,
    /// Signaling `offer`, `answer`, `candidate`.
    WsSignal,
    /// Signaling `chat` (per user: `SIGNALING_CHAT_RATE` per `SIGNALING_CHAT_WINDOW_SECS`).
    WsChat,
    /// Signaling `stage.invite`, `stage.accept`, `stage.leave`.
    WsStage,
    /// Signaling `tip`.
    WsTip,
    /// Signaling `heartbeat`.
    WsHeartbeat,
    /// Signaling `prompt.propose`, `prompt.vote` (the audience's part in AI rooms).
    WsPrompt,
    /// Signaling `ai.audio` (the host's microphone level, up to 10 a second).
    WsAudio,
    /// Signaling `auth` (a fresh access token for an open socket).
    WsAuth,
    /// Questions asked in a showcase's workshop (`POST /v1/showcases/{id}/questions`).
    Question,
    /// Requests that send an email (verification resend, password reset): per user (also the
    /// account a reset is for) and per address, so nobody can flood a mailbox.
    Mail,
    /// Abuse reports (`POST /v1/abuse-reports`).
    Report,
    /// Signaling `mod.kick`, `mod.ban`, `mod.mute` (and `mod.unmute`).
    WsModerate,
}

/// The limits and failure mode of one class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassLimits {
    /// Per user (`None`: off).
    pub user: Option<Limit>,
    /// Per client address (`None`: off).
    pub addr: Option<Limit>,
    /// When Redis is unavailable.
    pub fail: FailMode,
}

impl Class {
    /// Every class.
    pub const ALL: [Class; 19] = [
        Class::Auth,
        Class::Write,
        Class::Heartbeat,
        Class::Money,
        Class::Admin,
        Class::Webhook,
        Class::WsJoin,
        Class::WsSignal,
        Class::WsChat,
        Class::WsStage,
        Class::WsTip,
        Class::WsHeartbeat,
        Class::WsPrompt,
        Class::WsAudio,
        Class::WsAuth,
        Class::Question,
        Class::Mail,
        Class::Report,
        Class::WsModerate,
    ];

    /// Lower-case name, used in keys, metrics and (upper-cased) in `TANDEM_RATE_<CLASS>`.
    pub const fn name(self) -> &'static str {
        match self {
            Class::Auth => "auth",
            Class::Write => "write",
            Class::Heartbeat => "heartbeat",
            Class::Money => "money",
            Class::Admin => "admin",
            Class::Webhook => "webhook",
            Class::WsJoin => "ws_join",
            Class::WsSignal => "ws_signal",
            Class::WsChat => "ws_chat",
            Class::WsStage => "ws_stage",
            Class::WsTip => "ws_tip",
            Class::WsHeartbeat => "ws_heartbeat",
            Class::WsPrompt => "ws_prompt",
            Class::WsAudio => "ws_audio",
            Class::WsAuth => "ws_auth",
            Class::Question => "question",
            Class::Mail => "mail",
            Class::Report => "report",
            Class::WsModerate => "ws_moderate",
        }
    }

    /// The default limits (per user, per address) and failure mode.
    pub const fn defaults(self) -> ClassLimits {
        use FailMode::{Closed, Open};
        let (user, addr, fail) = match self {
            // Sign-in must not get past the login throttle when Redis is down: closed.
            Class::Auth => (None, Some(Limit::per(30, 60)), Closed),
            Class::Write => (Some(Limit::per(60, 60)), Some(Limit::per(600, 60)), Open),
            // Clients heartbeat every 10 s.
            Class::Heartbeat => (Some(Limit::per(30, 60)), Some(Limit::per(1200, 60)), Open),
            Class::Money => (Some(Limit::per(20, 60)), Some(Limit::per(120, 60)), Closed),
            Class::Admin => (Some(Limit::per(60, 60)), Some(Limit::per(600, 60)), Closed),
            Class::Webhook => (None, Some(Limit::per(600, 60)), Open),
            Class::WsJoin => (Some(Limit::per(30, 60)), Some(Limit::per(600, 60)), Open),
            // ICE trickles dozens of candidates per negotiation.
            Class::WsSignal => (Some(Limit::per(300, 60)), Some(Limit::per(3000, 60)), Open),
            Class::WsChat => (Some(Limit::per(10, 10)), Some(Limit::per(100, 10)), Open),
            Class::WsStage => (Some(Limit::per(30, 60)), Some(Limit::per(600, 60)), Open),
            Class::WsTip => (Some(Limit::per(30, 60)), Some(Limit::per(300, 60)), Closed),
            Class::WsHeartbeat => (Some(Limit::per(30, 60)), Some(Limit::per(3000, 60)), Open),
            Class::WsPrompt => (Some(Limit::per(30, 60)), Some(Limit::per(3000, 60)), Open),
            Class::WsAudio => (Some(Limit::per(900, 60)), Some(Limit::per(1800, 60)), Open),
            // A socket renews its token once per token lifetime; a user has at most ten sockets.
            Class::WsAuth => (Some(Limit::per(20, 60)), Some(Limit::per(3000, 60)), Open),
            // A question a minute on average, a burst of 3.
            Class::Question => (Some(Limit::per(3, 180)), Some(Limit::per(300, 60)), Open),
            // Five messages an hour per account, a burst of five; mail costs and annoys: closed.
            Class::Mail => (Some(Limit::per(5, 3600)), Some(Limit::per(30, 3600)), Closed),
            // Reports land in a human queue: a handful per user per ten minutes.
            Class::Report => (Some(Limit::per(5, 600)), Some(Limit::per(60, 600)), Open),
            // A host clearing out a raid acts quickly, but not hundreds of times a minute.
            Class::WsModerate => (Some(Limit::per(60, 60)), Some(Limit::per(600, 60)), Open),
        };
        ClassLimits { user, addr, fail }
    }

    fn index(self) -> usize {
        Class::ALL.iter().position(|c| *c == self).unwrap_or(0)
    }
}

/// The limits of every class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits {
    classes: [ClassLimits; Class::ALL.len()],
}

impl Default for RateLimits {
    fn default() -> Self {
        Self { classes: Class::ALL.map(Class::defaults) }
    }
}

impl RateLimits {
    /// No limits at all (tests of other behaviour, load tests).
    pub fn off() -> Self {
        let mut l = Self::default();
        for c in &mut l.classes {
            c.user = None;
            c.addr = None;
        }
        l
    }

    /// The limits of `class`.
    pub fn get(&self, class: Class) -> ClassLimits {
        self.classes[class.index()]
    }

    /// Replace the limits of `class`.
    pub fn set(&mut self, class: Class, limits: ClassLimits) {
        self.classes[class.index()] = limits;
    }

    /// Read `TANDEM_RATE_LIMITS`, `TANDEM_RATE_<CLASS>` and `TANDEM_RATE_<CLASS>_ADDR` through
    /// `var` (the environment in production), over the defaults.
    ///
    /// # Errors
    /// A value that does not parse, naming the variable.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        match var("TANDEM_RATE_LIMITS").as_deref().map(str::trim) {
            None | Some("on") => {}
            Some("off") => return Ok(Self::off()),
            Some(other) => anyhow::bail!("TANDEM_RATE_LIMITS must be `on` or `off`, not `{other}`"),
        }
        let mut limits = Self::default();
        for class in Class::ALL {
            let mut l = limits.get(class);
            let name = format!("TANDEM_RATE_{}", class.name().to_ascii_uppercase());
            if let Some(v) = var(&name) {
                l.user = Limit::parse(&v).map_err(anyhow::Error::msg).with_context(|| name.clone())?;
            }
            let addr_name = format!("{name}_ADDR");
            if let Some(v) = var(&addr_name) {
                l.addr = Limit::parse(&v).map_err(anyhow::Error::msg).with_context(|| addr_name.clone())?;
            }
            limits.set(class, l);
        }
        Ok(limits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse_and_bad_values_are_refused() {
        assert_eq!(Limit::parse("10/60").unwrap(), Some(Limit::per(10, 60)));
        assert_eq!(Limit::parse(" off ").unwrap(), None);
        for bad in ["10", "0/60", "10/0", "x/1", "1/y", ""] {
            assert!(Limit::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Limit::per(600, 60).interval_ms(), 100);
        assert_eq!(Limit::per(5000, 1).interval_ms(), 1);
    }

    #[test]
    fn the_environment_overrides_one_scope_of_one_class() {
        let vars = |name: &str| match name {
            "TANDEM_RATE_WRITE" => Some("5/10".to_string()),
            "TANDEM_RATE_AUTH_ADDR" => Some("off".to_string()),
            _ => None,
        };
        let l = RateLimits::from_vars(vars).unwrap();
        assert_eq!(l.get(Class::Write).user, Some(Limit::per(5, 10)));
        assert_eq!(l.get(Class::Write).addr, Class::Write.defaults().addr);
        assert_eq!(l.get(Class::Auth).addr, None);
        assert_eq!(l.get(Class::Money), Class::Money.defaults());
        let err = RateLimits::from_vars(|n| (n == "TANDEM_RATE_WS_TIP").then(|| "lots".into())).unwrap_err();
        assert!(format!("{err:#}").contains("TANDEM_RATE_WS_TIP"), "{err:#}");
        let off = RateLimits::from_vars(|n| (n == "TANDEM_RATE_LIMITS").then(|| "off".into())).unwrap();
        assert!(Class::ALL.iter().all(|c| off.get(*c).user.is_none() && off.get(*c).addr.is_none()));
    }
}
