//! Rate limits in Redis, shared by every node: GCRA (the generic cell rate algorithm) per class
//! of action, per user and per client address.
//!
//! A limit of `count` per `period` lets a burst of `count` through, then one action every
//! `period / count`. Each key holds a "theoretical arrival time" (milliseconds, Redis's own
//! clock so nodes' clocks do not matter) and expires when it no longer matters. All keys of one
//! check (user and address) are tested and advanced in one Lua script, so concurrent requests on
//! any node cannot overrun a limit, and a refused action consumes nothing.
//!
//! Keys: `rl:<class>:u:<user>` and `rl:<class>:a:<address>` (IPv6 addresses by /64), each with
//! a TTL of at most `period`.
//!
//! # Layout
//! - [`classes`]: the classes of action, their default limits, `TANDEM_RATE_*` settings and
//!   whether each fails open or closed when Redis is unavailable.
//! - [`http`]: the actix middleware that limits write routes, and the 429 response.

pub mod classes;
pub mod http;

pub use classes::{Class, ClassLimits, FailMode, Limit, RateLimits};

use crate::ids::UserId;
use crate::redis::RedisHandle;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// GCRA over every key given: KEYS are buckets, ARGV holds (interval ms, period ms) per key.
/// Returns 0 and advances every key when all allow the action, else the longest wait in ms
/// and changes nothing. Every key written gets a TTL (its remaining relevance, at most the
/// period).
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wait = 0
local tats = {}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local period = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', key) or '0') or 0
  if tat < now then tat = now end
  local next_tat = tat + interval
  local over = next_tat - now - period
  if over > wait then wait = over end
  tats[i] = next_tat
end
if wait > 0 then return wait end
for i, key in ipairs(KEYS) do
  redis.call('SET', key, string.format('%d', tats[i]), 'PX', string.format('%d', tats[i] - now))
end
return 0
";

/// The outcome of [`RateLimiter::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The action may go ahead.
    Allowed,
    /// Over the limit: try again after this long.
    Limited {
        /// How long until the action would be allowed.
        retry_after: Duration,
    },
    /// Redis could not be asked and the class fails closed.
    Unavailable,
}

impl Verdict {
    /// `Retry-After` in whole seconds, rounded up (at least 1).
    pub fn retry_after_secs(retry_after: Duration) -> u64 {
        retry_after.as_millis().div_ceil(1000).max(1) as u64
    }
}

/// Checks actions against the configured limits. Cloning is cheap.
#[derive(Clone)]
pub struct RateLimiter {
    redis: RedisHandle,
    limits: Arc<RateLimits>,
    script: Arc<redis::Script>,
}

impl RateLimiter {
    /// A limiter over `redis` applying `limits`.
    pub fn new(redis: RedisHandle, limits: RateLimits) -> Self {
        Self { redis, limits: Arc::new(limits), script: Arc::new(redis::Script::new(GCRA)) }
    }

    /// The limits this limiter applies.
    pub fn limits(&self) -> &RateLimits {
        &self.limits
    }

    /// Count one `class` action by `user` (when known) from `addr` (when known), refusing it
    /// when either's budget is spent.
    pub async fn check(&self, class: Class, user: Option<UserId>, addr: Option<IpAddr>) -> Verdict {
        let limits = self.limits.get(class);
        let mut inv = self.script.prepare_invoke();
        let mut keys = 0;
        if let (Some(user), Some(limit)) = (user, limits.user) {
            inv.key(self.redis.key(format_args!("rl:{}:u:{user}", class.name())));
            inv.arg(limit.interval_ms()).arg(limit.period_ms());
            keys += 1;
        }
        if let (Some(addr), Some(limit)) = (addr, limits.addr) {
            inv.key(self.redis.key(format_args!("rl:{}:a:{}", class.name(), address_key(addr))));
            inv.arg(limit.interval_ms()).arg(limit.period_ms());
            keys += 1;
        }
        if keys == 0 {
            return Verdict::Allowed;
        }
        let mut conn = self.redis.conn.clone();
        match inv.invoke_async::<u64>(&mut conn).await {
            Ok(0) => Verdict::Allowed,
            Ok(wait_ms) => {
                metrics::counter!("rate_limited_total", "class" => class.name()).increment(1);
                Verdict::Limited { retry_after: Duration::from_millis(wait_ms) }
            }
            Err(e) => {
                tracing::warn!(error.message = %e, class = class.name(), fail = ?limits.fail, "rate limit check failed");
                metrics::counter!("rate_limit_errors_total", "class" => class.name()).increment(1);
                match limits.fail {
                    FailMode::Open => Verdict::Allowed,
                    FailMode::Closed => Verdict::Unavailable,
                }
            }
        }
    }
}

/// The address part of a key: IPv4 as is, IPv6 by its /64 (one subscriber's usual allocation,
/// which a client can otherwise rotate through freely).
fn address_key(addr: IpAddr) -> String {
    match addr.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_addresses_share_their_64_and_mapped_ipv4_is_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_eq!(address_key("::ffff:10.1.2.3".parse().unwrap()), "10.1.2.3");
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(Verdict::retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(Verdict::retry_after_secs(Duration::from_millis(1000)), 1);
        assert_eq!(Verdict::retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(Verdict::retry_after_secs(Duration::ZERO), 1);
    }
}
