//! The open-files limit: raised to the hard limit where allowed, and reported when it caps a run.

/// Soft and hard `RLIMIT_NOFILE` after trying to raise the soft limit to the hard one.
pub fn raise_nofile() -> (u64, u64) {
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return (1024, 1024);
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
        (lim.rlim_cur, lim.rlim_max)
    }
}

/// How many sockets one process may open, keeping `reserve` descriptors for everything else.
pub fn socket_budget(soft_limit: u64, reserve: u64) -> u64 {
    soft_limit.saturating_sub(reserve)
}

#[cfg(test)]
mod tests {
    #[test]
    fn raising_never_lowers_the_limit() {
        let (soft, hard) = super::raise_nofile();
        assert!(soft >= 1 && soft <= hard);
        assert_eq!(super::socket_budget(20_000, 200), 19_800);
        assert_eq!(super::socket_budget(100, 200), 0);
    }
}
