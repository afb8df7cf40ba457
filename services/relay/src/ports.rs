//! The UDP ports peer connections may bind, when `TANDEM_RELAY_UDP_PORTS` restricts them.

use std::collections::BTreeSet;
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex};

/// Hands out ports of a range, one per peer connection; a [`Port`] returns itself on drop.
#[derive(Clone)]
pub struct PortPool {
    range: Option<RangeInclusive<u16>>,
    used: Arc<Mutex<BTreeSet<u16>>>,
    next: Arc<Mutex<u16>>,
}

/// A port taken from the pool, freed when dropped.
#[derive(Debug)]
pub struct Port {
    number: u16,
    used: Arc<Mutex<BTreeSet<u16>>>,
}

impl Port {
    /// The port number.
    pub fn number(&self) -> u16 {
        self.number
    }
}

impl Drop for Port {
    fn drop(&mut self) {
        self.used.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.number);
    }
}

impl PortPool {
    /// A pool over `range`, or an unrestricted pool (ephemeral ports) for `None`.
    pub fn new(range: Option<RangeInclusive<u16>>) -> Self {
        let start = range.as_ref().map(|r| *r.start()).unwrap_or(0);
        Self { range, used: Arc::default(), next: Arc::new(Mutex::new(start)) }
    }

    /// How many ports the range holds (0 when unrestricted).
    pub fn len(&self) -> usize {
        self.range.as_ref().map(|r| r.clone().count()).unwrap_or(0)
    }

    /// Whether the pool is unrestricted.
    pub fn is_empty(&self) -> bool {
        self.range.is_none()
    }

    /// The next free port, round-robin; `Ok(None)` means "any ephemeral port".
    ///
    /// # Errors
    /// Every port of the range is in use.
    #[allow(clippy::result_unit_err)]
    pub fn take(&self) -> Result<Option<Port>, ()> {
        let Some(range) = &self.range else { return Ok(None) };
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        for _ in 0..self.len() {
            let candidate = *next;
            *next = if candidate >= *range.end() { *range.start() } else { candidate + 1 };
            if used.insert(candidate) {
                return Ok(Some(Port { number: candidate, used: self.used.clone() }));
            }
        }
        Err(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unrestricted_pool_hands_out_ephemeral() {
        assert!(PortPool::new(None).take().expect("ok").is_none());
    }

    #[test]
    fn ports_are_exclusive_and_come_back() {
        let pool = PortPool::new(Some(5000..=5001));
        let a = pool.take().expect("a").expect("port");
        let b = pool.take().expect("b").expect("port");
        assert_ne!(a.number(), b.number());
        assert!(pool.take().is_err(), "range exhausted");
        let freed = a.number();
        drop(a);
        assert_eq!(pool.take().expect("again").expect("port").number(), freed);
    }
}
