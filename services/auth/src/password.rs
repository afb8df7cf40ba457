//! Password hashing with argon2id (OWASP parameters), on a dedicated thread pool.

use anyhow::Context;
use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};

/// Hashing runs on a small pool of long-lived threads (one per CPU). Each hash needs 19 MiB;
/// on short-lived blocking threads the allocator keeps a freed 19 MiB arena per thread, which
/// grew a busy process by gigabytes. A fixed pool bounds that to threads x 19 MiB and makes a
/// login storm queue instead of exhausting memory.
struct Pool {
    jobs: std::sync::Mutex<std::sync::mpsc::Sender<Box<dyn FnOnce() + Send>>>,
}

fn pool() -> &'static Pool {
    static POOL: std::sync::OnceLock<Pool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        keep_large_buffers_out_of_the_heap();
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let (tx, rx) = std::sync::mpsc::channel::<Box<dyn FnOnce() + Send>>();
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        for i in 0..threads {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new().name(format!("argon2-{i}")).spawn(move || loop {
                let job = match rx.lock() {
                    Ok(guard) => guard.recv(),
                    Err(_) => return,
                };
                match job {
                    Ok(job) => job(),
                    Err(_) => return,
                }
            });
            if let Err(e) = spawned {
                tracing::error!(error.message = %e, "failed to start a password hashing thread");
            }
        }
        Pool { jobs: std::sync::Mutex::new(tx) }
    })
}

/// Serve allocations of 1 MiB and more (argon2's 19 MiB work area) straight from mmap and
/// return them to the OS when freed. glibc otherwise raises its mmap threshold after the first
/// such free and then keeps every later work area in a heap arena: 800 hashes grew the
/// process by 340 MB.
fn keep_large_buffers_out_of_the_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; M_MMAP_THRESHOLD takes a byte count.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1024 * 1024);
    }
}

/// Run `f` on the hashing pool and wait for its result without blocking the async thread.
async fn on_pool<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> anyhow::Result<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Box<dyn FnOnce() + Send> = Box::new(move || {
        let _ = tx.send(f());
    });
    // The queue holds only small closures; its length is bounded by requests in flight.
    pool()
        .jobs
        .lock()
        .map_err(|_| anyhow::anyhow!("password hashing pool poisoned"))?
        .send(job)
        .map_err(|_| anyhow::anyhow!("password hashing pool stopped"))?;
    rx.await.context("password hashing job was dropped")
}

fn hasher() -> Argon2<'static> {
    // 19 MiB, 2 iterations, 1 lane: OWASP's argon2id baseline.
    let params = Params::new(19 * 1024, 2, 1, None).expect("static argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hash a password into a PHC string.
///
/// # Errors
/// The hashing pool stopped or hashing failed.
pub async fn hash(password: String) -> anyhow::Result<String> {
    on_pool(move || {
        hasher()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))
    })
    .await?
}

/// Check a password against a stored PHC string; a malformed hash counts as a mismatch.
///
/// # Errors
/// The hashing pool stopped.
pub async fn verify(password: String, phc: String) -> anyhow::Result<bool> {
    on_pool(move || hasher().verify_password(password.as_bytes(), phc.as_str()).is_ok()).await
}

/// A hash of a random password, verified against when the email is unknown so that a
/// missing account takes as long as a wrong password.
pub async fn dummy_hash() -> String {
    static DUMMY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    DUMMY.get_or_init(|| async { hash(uuid::Uuid::new_v4().to_string()).await.unwrap_or_default() }).await.clone()
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
