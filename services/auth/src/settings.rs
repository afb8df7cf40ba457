//! [`AuthSettings`]: the auth service's configuration, read from the environment.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `TANDEM_SMTP_URL` | unset | SMTP server for account mail, e.g. `smtps://user:pass@smtp.example.com` or `smtp://127.0.0.1:2525` (lettre URL syntax; `?tls=required` for STARTTLS); unset: every message is written to `<TANDEM_DATA_DIR>/mail/` (refused in production) |
//! | `TANDEM_MAIL_FROM` | `Tandem <no-reply@localhost>` | sender of account mail |
//! | `TANDEM_DEV_VERIFIED_SIGNUPS` | `0` | `1`: new accounts start with a verified email (development, demos, load tests; refused in production) |
//! | `TANDEM_ARGON2_M_KIB` / `TANDEM_ARGON2_T` / `TANDEM_ARGON2_P` | `19456` / `2` / `1` | argon2id memory (KiB), iterations and lanes; below OWASP's minimums the process refuses to start |
//! | `TANDEM_AUTH_HASH_QUEUE` | 16 per CPU | sign-ins that may wait for a hashing slot; beyond it they get `503 overloaded` at once |
//! | `TANDEM_AUTH_HASH_WAIT_MS` | `1000` | longest wait for a hashing slot before `503 overloaded` |
//! | `TANDEM_TOTP_KEY` | unset | 64 hex digits (32 bytes): TOTP secrets are stored encrypted with it (AES-256-CCM); unset: stored in the clear (warned about in production) |

use anyhow::Context;
use std::time::Duration;
use tandem_shared::config::{CoreSettings, Environment};

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Cost {
    /// Memory, KiB.
    pub m_kib: u32,
    /// Iterations.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl Default for Argon2Cost {
    /// OWASP's argon2id baseline: 19 MiB, 2 iterations, 1 lane.
    fn default() -> Self {
        Self { m_kib: 19 * 1024, t: 2, p: 1 }
    }
}

impl Argon2Cost {
    /// Check against OWASP's password storage cheat sheet: argon2id with at least one of
    /// m=47104 (46 MiB) t=1, m=19456 t=2, m=12288 t=3, m=9216 t=4, m=7168 t=5, and p >= 1.
    ///
    /// # Errors
    /// What is below the minimum.
    pub fn validate(&self) -> Result<(), String> {
        let min_m = match self.t {
            0 => return Err("TANDEM_ARGON2_T must be at least 1".into()),
            1 => 47_104,
            2 => 19_456,
            3 => 12_288,
            4 => 9_216,
            _ => 7_168,
        };
        if self.m_kib < min_m {
            return Err(format!(
                "argon2 memory {} KiB with {} iteration(s) is below OWASP's minimum of {min_m} KiB (TANDEM_ARGON2_M_KIB)",
                self.m_kib, self.t
            ));
        }
        if self.p == 0 {
            return Err("TANDEM_ARGON2_P must be at least 1".into());
        }
        if self.m_kib > 4 * 1024 * 1024 || self.t > 64 || self.p > 64 {
            return Err("argon2 parameters are unreasonably large (m ≤ 4 GiB, t ≤ 64, p ≤ 64)".into());
        }
        Ok(())
    }
}

/// The bounded hashing queue (see [`crate::password`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashQueue {
    /// Hashing threads (one per CPU).
    pub threads: usize,
    /// Requests that may wait for a thread.
    pub max_waiting: usize,
    /// Longest wait for a thread.
    pub wait: Duration,
}

impl Default for HashQueue {
    fn default() -> Self {
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        Self { threads, max_waiting: 16 * threads, wait: Duration::from_millis(1000) }
    }
}

/// The auth service's settings. `Debug` leaves the SMTP URL and TOTP key out.
#[derive(Clone)]
pub struct AuthSettings {
    /// SMTP server URL; `None`: write mail to files.
    pub smtp_url: Option<String>,
    /// Sender of account mail.
    pub mail_from: String,
    /// New accounts start verified.
    pub dev_verified_signups: bool,
    /// argon2id cost.
    pub argon2: Argon2Cost,
    /// The hashing queue.
    pub hash_queue: HashQueue,
    /// Key sealing TOTP secrets at rest.
    pub totp_key: Option<[u8; 32]>,
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSettings")
            .field("smtp", &self.smtp_url.is_some())
            .field("mail_from", &self.mail_from)
            .field("dev_verified_signups", &self.dev_verified_signups)
            .field("argon2", &self.argon2)
            .field("hash_queue", &self.hash_queue)
            .field("totp_key", &self.totp_key.is_some())
            .finish()
    }
}

impl Default for AuthSettings {
    /// Development defaults: mail to files, OWASP argon2, secrets in the clear.
    fn default() -> Self {
        Self {
            smtp_url: None,
            mail_from: "Tandem <no-reply@localhost>".into(),
            dev_verified_signups: false,
            argon2: Argon2Cost::default(),
            hash_queue: HashQueue::default(),
            totp_key: None,
        }
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn num<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T> {
    match var(name) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| anyhow::anyhow!("{name} must be a number, not `{v}`")),
    }
}

impl AuthSettings {
    /// Read the settings from the environment and check them.
    ///
    /// # Errors
    /// A value that does not parse, argon2 parameters below OWASP's minimums, or a development
    /// shortcut in production.
    pub fn from_env(core: &CoreSettings) -> anyhow::Result<Self> {
        let d = Self::default();
        let argon2 = Argon2Cost {
            m_kib: num("TANDEM_ARGON2_M_KIB", d.argon2.m_kib)?,
            t: num("TANDEM_ARGON2_T", d.argon2.t)?,
            p: num("TANDEM_ARGON2_P", d.argon2.p)?,
        };
        let hash_queue = HashQueue {
            threads: d.hash_queue.threads,
            max_waiting: num("TANDEM_AUTH_HASH_QUEUE", d.hash_queue.max_waiting)?,
            wait: Duration::from_millis(num("TANDEM_AUTH_HASH_WAIT_MS", 1000u64)?),
        };
        let totp_key = var("TANDEM_TOTP_KEY")
            .map(|v| {
                let bytes = hex::decode(v.trim()).ok().filter(|b| b.len() == 32);
                bytes.and_then(|b| <[u8; 32]>::try_from(b).ok()).context("TANDEM_TOTP_KEY must be 64 hex digits")
            })
            .transpose()?;
        let dev_verified_signups = match var("TANDEM_DEV_VERIFIED_SIGNUPS").as_deref().map(str::trim) {
            None | Some("0") => false,
            Some("1") => true,
            Some(other) => anyhow::bail!("TANDEM_DEV_VERIFIED_SIGNUPS must be 0 or 1, not `{other}`"),
        };
        let s = Self {
            smtp_url: var("TANDEM_SMTP_URL"),
            mail_from: var("TANDEM_MAIL_FROM").unwrap_or(d.mail_from),
            dev_verified_signups,
            argon2,
            hash_queue,
            totp_key,
        };
        s.validate(core.environment)?;
        Ok(s)
    }

    /// Check the settings for `environment`.
    ///
    /// # Errors
    /// See [`AuthSettings::from_env`].
    pub fn validate(&self, environment: Environment) -> anyhow::Result<()> {
        self.argon2.validate().map_err(anyhow::Error::msg)?;
        anyhow::ensure!(
            self.hash_queue.wait <= Duration::from_secs(30),
            "TANDEM_AUTH_HASH_WAIT_MS must be at most 30000"
        );
        self.mail_from
            .parse::<lettre::message::Mailbox>()
            .map_err(|e| anyhow::anyhow!("TANDEM_MAIL_FROM is not a mailbox (`Name <addr@host>`): {e}"))?;
        if environment == Environment::Production {
            anyhow::ensure!(!self.dev_verified_signups, "TANDEM_DEV_VERIFIED_SIGNUPS=1 is refused in production");
            anyhow::ensure!(self.smtp_url.is_some(), "TANDEM_SMTP_URL must be set in production (account mail)");
            if self.totp_key.is_none() {
                tracing::warn!("TANDEM_TOTP_KEY is not set: TOTP secrets are stored unencrypted");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owasp_minimums_are_enforced() {
        assert!(Argon2Cost::default().validate().is_ok());
        assert!(Argon2Cost { m_kib: 47_104, t: 1, p: 1 }.validate().is_ok());
        assert!(Argon2Cost { m_kib: 7_168, t: 5, p: 1 }.validate().is_ok());
        assert!(Argon2Cost { m_kib: 19_455, t: 2, p: 1 }.validate().is_err());
        assert!(Argon2Cost { m_kib: 19_456, t: 1, p: 1 }.validate().is_err());
        assert!(Argon2Cost { m_kib: 19_456, t: 2, p: 0 }.validate().is_err());
        assert!(Argon2Cost { m_kib: 65_536, t: 0, p: 1 }.validate().is_err());
    }

    #[test]
    fn production_refuses_development_shortcuts() {
        let s = AuthSettings { dev_verified_signups: true, ..AuthSettings::default() };
        assert!(s.validate(Environment::Development).is_ok());
        assert!(s.validate(Environment::Production).is_err());
        let no_smtp = AuthSettings::default();
        assert!(no_smtp.validate(Environment::Production).is_err());
        assert!(
            !format!("{:?}", AuthSettings { smtp_url: Some("smtp://u:secret@h".into()), ..no_smtp }).contains("secret")
        );
    }
}
