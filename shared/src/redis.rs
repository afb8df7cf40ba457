//! The Redis connection manager and the key prefix every key of a deployment (or test) carries.

use anyhow::Context;
use redis::aio::ConnectionManager;
use redis::AsyncCommands;
use std::sync::Arc;
use uuid::Uuid;

/// A multiplexed, auto-reconnecting Redis connection plus the deployment's key prefix.
///
/// Cloning is cheap; all clones share one connection.
#[derive(Clone)]
pub struct RedisHandle {
    /// The multiplexed connection for commands.
    pub conn: ConnectionManager,
    /// The client, for dedicated connections such as pub/sub.
    pub client: redis::Client,
    prefix: Arc<str>,
}

impl RedisHandle {
    /// Connect to `url`; every key built with [`RedisHandle::key`] starts with `prefix`.
    ///
    /// # Errors
    /// The URL is malformed or the server is unreachable.
    pub async fn connect(url: &str, prefix: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).context("Failed to parse REDIS_URL")?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(std::time::Duration::from_secs(3)))
            .set_response_timeout(Some(std::time::Duration::from_secs(3)))
            .set_number_of_retries(2);
        let conn = client
            .get_connection_manager_with_config(config)
            .await
            .with_context(|| "Failed to connect to Redis (is redis-server running? see README)".to_string())?;
        Ok(Self { conn, client, prefix: prefix.into() })
    }

    /// The full key for `suffix`, e.g. `tandem:presence:<id>`.
    pub fn key(&self, suffix: impl std::fmt::Display) -> String {
        format!("{}{}", self.prefix, suffix)
    }

    /// The prefix of every key of this deployment.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Round-trip a PING.
    ///
    /// # Errors
    /// Redis is unreachable.
    pub async fn ping(&self) -> redis::RedisResult<()> {
        let mut c = self.conn.clone();
        redis::cmd("PING").query_async::<String>(&mut c).await.map(|_| ())
    }

    /// The marker auth sets once Redis holds every unexpired revocation; Redis restarted empty
    /// when it is missing.
    pub fn revocations_loaded_key(&self) -> String {
        self.key("auth:revocations:loaded")
    }

    /// The cached revocation of access token `jti`.
    pub fn revoked_key(&self, jti: Uuid) -> String {
        self.key(format_args!("auth:revoked:{jti}"))
    }

    /// The cached revocation of every access token of refresh-token family `family` (a
    /// signed-out session).
    pub fn family_revoked_key(&self, family: crate::ids::TokenFamilyId) -> String {
        self.key(format_args!("auth:revoked_family:{family}"))
    }

    /// Mark every access token of `family` revoked for `seconds` (the access-token lifetime;
    /// auth records the family's revocation in PostgreSQL first).
    ///
    /// # Errors
    /// Redis is unreachable.
    pub async fn revoke_family(&self, family: crate::ids::TokenFamilyId, seconds: u64) -> redis::RedisResult<()> {
        let mut c = self.conn.clone();
        c.set_ex::<_, _, ()>(self.family_revoked_key(family), 1u8, seconds.max(1)).await
    }

    /// Mark an access token revoked until it would expire anyway (auth records it in
    /// PostgreSQL first).
    ///
    /// # Errors
    /// Redis is unreachable.
    pub async fn revoke_token(&self, jti: Uuid, seconds_left: u64) -> redis::RedisResult<()> {
        let mut c = self.conn.clone();
        c.set_ex::<_, _, ()>(self.revoked_key(jti), 1u8, seconds_left.max(1)).await
    }

    /// Whether an access token was revoked (by logout, or with its whole session), in one round trip: `None` when Redis
    /// lost the revocation list (it restarted empty) and auth has not refilled it yet, so the
    /// answer cannot be trusted.
    ///
    /// # Errors
    /// Redis is unreachable.
    pub async fn is_token_revoked(
        &self,
        jti: Uuid,
        family: Option<crate::ids::TokenFamilyId>,
    ) -> redis::RedisResult<Option<bool>> {
        let mut c = self.conn.clone();
        // A token without a family checks the marker key twice: one shape of answer.
        let family_key = family.map_or_else(|| self.revocations_loaded_key(), |f| self.family_revoked_key(f));
        let (revoked, loaded, family_revoked): (bool, bool, bool) = redis::pipe()
            .exists(self.revoked_key(jti))
            .exists(self.revocations_loaded_key())
            .exists(family_key)
            .query_async(&mut c)
            .await?;
        Ok(loaded.then_some(revoked || (family.is_some() && family_revoked)))
    }
}
