//! Password hashing with argon2id (OWASP parameters or stronger), on a dedicated thread pool
//! behind a bounded queue ([`Hasher`]).

use crate::settings::{Argon2Cost, HashQueue};
use anyhow::Context;
use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Hashing runs on a small pool of long-lived threads (one per CPU). Each hash needs 19 MiB;
/// on short-lived blocking threads the allocator keeps a freed 19 MiB arena per thread, which
/// grew a busy process by gigabytes. A fixed pool bounds that to threads x 19 MiB.
struct Pool {
    jobs: std::sync::Mutex<std::sync::mpsc::Sender<Box<dyn FnOnce() + Send>>>,
}

impl Pool {
    fn start(threads: usize) -> Self {
        keep_large_buffers_out_of_the_heap();
        let (tx, rx) = std::sync::mpsc::channel::<Box<dyn FnOnce() + Send>>();
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            // Each thread ends when the pool (the sender) is dropped.
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
    }
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

/// Why a hash did not run.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every hashing thread is busy and the queue is full, or no thread came free within the
    /// configured wait: the caller answers `503 overloaded` with `Retry-After`.
    #[error("password hashing is saturated")]
    Busy,
    /// The pool stopped or hashing failed.
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// Password hashing with argon2id on a bounded queue.
///
/// A hash runs only while it holds one of `threads` slots (a semaphore, FIFO), so the pool's
/// own queue never grows: a job starts on a thread as soon as it is sent. A request that finds
/// no free slot waits at most `wait`, and only while fewer than `max_waiting` others wait;
/// otherwise it is refused at once ([`HashError::Busy`]). The time a sign-in spends here is
/// therefore bounded by `wait` plus one hash, whatever the load, instead of growing with the
/// queue until clients time out.
pub struct Hasher {
    params: Params,
    pool: Pool,
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
    wait: Duration,
    dummy: tokio::sync::OnceCell<String>,
}

/// Counts one waiter until dropped (also when the waiting request is cancelled).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Hasher {
    /// A hasher with `cost` on a queue shaped by `queue`.
    ///
    /// # Errors
    /// The parameters are rejected by argon2.
    pub fn new(cost: Argon2Cost, queue: HashQueue) -> anyhow::Result<Self> {
        let params = Params::new(cost.m_kib, cost.t, cost.p, None)
            .map_err(|e| anyhow::anyhow!("invalid argon2 parameters: {e}"))?;
        let threads = queue.threads.max(1);
        Ok(Self {
            params,
            pool: Pool::start(threads),
            slots: Arc::new(Semaphore::new(threads)),
            waiting: AtomicUsize::new(0),
            max_waiting: queue.max_waiting,
            wait: queue.wait,
            dummy: tokio::sync::OnceCell::new(),
        })
    }

    /// A hasher with the default cost and queue (the CLI).
    ///
    /// # Errors
    /// See [`Hasher::new`].
    pub fn standard() -> anyhow::Result<Self> {
        Self::new(Argon2Cost::default(), HashQueue::default())
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    async fn slot(&self) -> Result<OwnedSemaphorePermit, HashError> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(permit);
        }
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            metrics::counter!("auth_hash_shed_total", "why" => "queue_full").increment(1);
            return Err(HashError::Busy);
        }
        let _waiting = Waiting(&self.waiting);
        match tokio::time::timeout(self.wait, self.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) => Err(HashError::Failed(anyhow::anyhow!("password hashing slots closed"))),
            Err(_) => {
                metrics::counter!("auth_hash_shed_total", "why" => "wait").increment(1);
                Err(HashError::Busy)
            }
        }
    }

    /// Run `f` on the pool once a slot is free; the slot is held until `f` returns, even if the
    /// caller gives up meanwhile.
    async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, HashError> {
        let permit = self.slot().await?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Box<dyn FnOnce() + Send> = Box::new(move || {
            let _ = tx.send(f());
            drop(permit);
        });
        self.pool
            .jobs
            .lock()
            .map_err(|_| anyhow::anyhow!("password hashing pool poisoned"))?
            .send(job)
            .map_err(|_| anyhow::anyhow!("password hashing pool stopped"))?;
        Ok(rx.await.context("password hashing job was dropped")?)
    }

    /// Hash a password into a PHC string.
    ///
    /// # Errors
    /// [`HashError::Busy`], or the pool stopped or hashing failed.
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        let argon2 = self.argon2();
        self.run(move || {
            argon2
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))
        })
        .await?
        .map_err(HashError::Failed)
    }

    /// Check a password against a stored PHC string (with the parameters stored in it); a
    /// malformed hash counts as a mismatch.
    ///
    /// # Errors
    /// [`HashError::Busy`], or the pool stopped.
    pub async fn verify(&self, password: String, phc: String) -> Result<bool, HashError> {
        let argon2 = self.argon2();
        self.run(move || argon2.verify_password(password.as_bytes(), phc.as_str()).is_ok()).await
    }

    /// A hash of a random password, verified against when the email is unknown so that a
    /// missing account takes as long as a wrong password.
    ///
    /// # Errors
    /// [`HashError::Busy`] the first time, when the queue is full.
    pub async fn dummy_hash(&self) -> Result<String, HashError> {
        self.dummy.get_or_try_init(|| self.hash(uuid::Uuid::new_v4().to_string())).await.cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_only_the_right_password() {
        let h = Hasher::standard().unwrap();
        let phc = h.hash("correct horse battery".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(h.verify("correct horse battery".into(), phc.clone()).await.unwrap());
        assert!(!h.verify("wrong horse battery".into(), phc).await.unwrap());
        assert!(!h.verify("x".into(), "not a hash".into()).await.unwrap());
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_and_a_long_wait_gives_up() {
        let queue = HashQueue { threads: 1, max_waiting: 1, wait: Duration::from_millis(50) };
        let h = Arc::new(Hasher::new(Argon2Cost::default(), queue).unwrap());
        // Hold the only slot.
        let held = h.slots.clone().try_acquire_owned().unwrap();
        let waiter = tokio::spawn({
            let h = h.clone();
            async move { h.hash("a".into()).await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        let started = std::time::Instant::now();
        assert!(matches!(h.hash("b".into()).await, Err(HashError::Busy)), "the queue is full");
        assert!(started.elapsed() < Duration::from_millis(40), "refused without waiting");
        assert!(matches!(waiter.await.unwrap(), Err(HashError::Busy)), "the waiter gave up after 50 ms");
        assert_eq!(h.waiting.load(Ordering::SeqCst), 0);
        drop(held);
        assert!(h.hash("c".into()).await.is_ok());
    }
}
