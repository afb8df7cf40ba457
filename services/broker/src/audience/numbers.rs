//! From view spans to the numbers a showcase is judged by.
//!
//! - A viewer's **watch time** is the union of their spans (two tabs count once).
//! - A **view** is a viewer session: the viewer's watched intervals joined across gaps of at
//!   most `gap` (a reconnect, a resume on another node), counted once it holds at least
//!   `min_view` of watching, as video platforms count.
//! - **Unique viewers** are the users with at least one view; **peak concurrent** the most
//!   users watching at one instant.

use std::collections::{BTreeSet, HashMap};
use tandem_shared::ids::UserId;

/// One viewer socket's span in a room, Unix ms, `end >= start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) user: UserId,
    pub(crate) start: i64,
    pub(crate) end: i64,
}

/// What makes a view.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rules {
    /// Watching needed before a session counts as a view, ms.
    pub(crate) min_view_ms: i64,
    /// Longest break inside one session, ms.
    pub(crate) gap_ms: i64,
}

/// The numbers of one room.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Numbers {
    pub(crate) views: u64,
    pub(crate) unique_viewers: u64,
    pub(crate) peak_concurrent: u64,
    pub(crate) watch_ms: i64,
    /// Users with at least one view.
    pub(crate) viewers: BTreeSet<UserId>,
    /// Per-viewer watch time, ms.
    pub(crate) watch_by_user: HashMap<UserId, i64>,
    /// Viewers watching during each bucket: `(bucket start, viewers)`.
    pub(crate) series: Vec<(i64, u64)>,
}

/// Most points of a series.
const MAX_POINTS: i64 = 300;

/// Union of intervals (sorted, overlapping or touching ones joined).
fn union(mut v: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    v.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(v.len());
    for (s, e) in v {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// Compute the numbers of `spans` under `rules`; the series has buckets of at least `bucket_ms`.
pub(crate) fn compute(spans: &[Span], rules: Rules, bucket_ms: i64) -> Numbers {
    let mut by_user: HashMap<UserId, Vec<(i64, i64)>> = HashMap::new();
    for s in spans {
        by_user.entry(s.user).or_default().push((s.start, s.end.max(s.start)));
    }
    let mut n = Numbers::default();
    let mut edges: Vec<(i64, i64)> = Vec::new();
    let mut watched_all: Vec<(i64, i64)> = Vec::new();
    for (user, intervals) in by_user {
        let watched = union(intervals);
        let total: i64 = watched.iter().map(|(s, e)| e - s).sum();
        n.watch_ms += total;
        n.watch_by_user.insert(user, total);
        let mut session_end: Option<i64> = None;
        let mut session_watch = 0;
        let mut views = 0;
        for &(s, e) in &watched {
            match session_end {
                Some(end) if s - end <= rules.gap_ms => session_watch += e - s,
                Some(_) => {
                    views += u64::from(session_watch >= rules.min_view_ms);
                    session_watch = e - s;
                }
                None => session_watch = e - s,
            }
            session_end = Some(e);
            edges.push((s, 1));
            edges.push((e, -1));
        }
        if session_end.is_some() {
            views += u64::from(session_watch >= rules.min_view_ms);
        }
        if views > 0 {
            n.views += views;
            n.viewers.insert(user);
        }
        watched_all.extend(watched);
    }
    n.unique_viewers = n.viewers.len() as u64;
    // Ends before starts at the same instant: a hand-over is not two viewers at once.
    edges.sort_unstable();
    let mut now = 0i64;
    for (_, d) in edges {
        now += d;
        n.peak_concurrent = n.peak_concurrent.max(now.max(0) as u64);
    }
    n.series = series(&watched_all, bucket_ms);
    n
}

/// Viewers watching during each bucket, from the per-user watched intervals.
fn series(watched: &[(i64, i64)], bucket_ms: i64) -> Vec<(i64, u64)> {
    let (Some(first), Some(last)) = (watched.iter().map(|w| w.0).min(), watched.iter().map(|w| w.1).max()) else {
        return Vec::new();
    };
    let bucket = bucket_ms.max(1).max((last - first) / MAX_POINTS + 1);
    let start = first - first.rem_euclid(bucket);
    let buckets = ((last - start) / bucket + 1) as usize;
    let mut counts = vec![0u64; buckets];
    for &(s, e) in watched {
        let from = ((s - start) / bucket) as usize;
        let to = (((e - start) / bucket) as usize).min(buckets - 1);
        for c in &mut counts[from..=to] {
            *c += 1;
        }
    }
    counts.into_iter().enumerate().map(|(i, c)| (start + i as i64 * bucket, c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: Rules = Rules { min_view_ms: 5_000, gap_ms: 60_000 };

    fn span(user: UserId, start: i64, end: i64) -> Span {
        Span { user, start, end }
    }

    #[test]
    fn a_reconnect_within_the_gap_is_one_view_and_two_tabs_count_once() {
        let (a, b, c) = (UserId::new(), UserId::new(), UserId::new());
        let spans = [
            // a: watches 0-10 s, drops, resumes at 12 s on another node until 30 s.
            span(a, 0, 10_000),
            span(a, 12_000, 30_000),
            // b: two tabs overlapping, 5-20 s and 8-25 s.
            span(b, 5_000, 20_000),
            span(b, 8_000, 25_000),
            // c: 3 s only: no view.
            span(c, 0, 3_000),
        ];
        let n = compute(&spans, RULES, 1_000);
        assert_eq!(n.views, 2);
        assert_eq!(n.unique_viewers, 2);
        assert_eq!(n.watch_by_user[&a], 28_000);
        assert_eq!(n.watch_by_user[&b], 20_000);
        assert_eq!(n.watch_ms, 28_000 + 20_000 + 3_000);
        // At 8-10 s a, b (once) and not c (gone at 3 s); at 0-3 s a and c.
        assert_eq!(n.peak_concurrent, 2);
    }

    #[test]
    fn a_return_after_the_gap_is_a_second_view_of_the_same_viewer() {
        let a = UserId::new();
        let spans = [span(a, 0, 10_000), span(a, 100_000, 110_000)];
        let n = compute(&spans, RULES, 60_000);
        assert_eq!((n.views, n.unique_viewers), (2, 1));
        assert_eq!(n.series.iter().map(|p| p.1).max(), Some(1));
    }

    #[test]
    fn hand_overs_at_the_same_instant_do_not_double_the_peak() {
        let (a, b) = (UserId::new(), UserId::new());
        let n = compute(&[span(a, 0, 10_000), span(b, 10_000, 20_000)], RULES, 1_000);
        assert_eq!(n.peak_concurrent, 1);
        assert!(compute(&[], RULES, 1_000).series.is_empty());
    }
}
