//! Password hashing with argon2id (OWASP parameters), always on a blocking thread.

use anyhow::Context;
use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};

/// Each hash holds 19 MiB for its duration: bound how many run at once so a signup or login
/// storm queues instead of exhausting memory and the blocking pool.
fn permits() -> &'static tokio::sync::Semaphore {
    static PERMITS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    PERMITS.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        tokio::sync::Semaphore::new(cpus * 2)
    })
}

fn hasher() -> Argon2<'static> {
    // 19 MiB, 2 iterations, 1 lane: OWASP's argon2id baseline.
    let params = Params::new(19 * 1024, 2, 1, None).expect("static argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hash a password into a PHC string.
///
/// # Errors
/// The blocking task panicked or hashing failed.
pub async fn hash(password: String) -> anyhow::Result<String> {
    let _permit = permits().acquire().await.context("hashing semaphore closed")?;
    tokio::task::spawn_blocking(move || {
        hasher()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))
    })
    .await
    .context("password hashing task failed")?
}

/// Check a password against a stored PHC string; a malformed hash counts as a mismatch.
///
/// # Errors
/// The blocking task panicked.
pub async fn verify(password: String, phc: String) -> anyhow::Result<bool> {
    let _permit = permits().acquire().await.context("hashing semaphore closed")?;
    tokio::task::spawn_blocking(move || {
        hasher().verify_password(password.as_bytes(), phc.as_str()).is_ok()
    })
    .await
    .context("password verification task failed")
}

/// A hash of a random password, verified against when the email is unknown so that a
/// missing account takes as long as a wrong password.
pub async fn dummy_hash() -> String {
    static DUMMY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    DUMMY
        .get_or_init(|| async { hash(uuid::Uuid::new_v4().to_string()).await.unwrap_or_default() })
        .await
        .clone()
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn hashes_verify_only_the_right_password() {
        let h = super::hash("correct horse battery".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(super::verify("correct horse battery".into(), h.clone()).await.unwrap());
        assert!(!super::verify("wrong horse battery".into(), h).await.unwrap());
        assert!(!super::verify("x".into(), "not a hash".into()).await.unwrap());
    }
}
