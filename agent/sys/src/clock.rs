//! The kernel's NTP state of the system clock, read with `adjtimex(2)` and `modes = 0`
//! (a read: nothing is changed, no privilege is needed).
//!
//! Everything here is the call and the copy of four fields out of `struct timex`; what they
//! mean is decided by the agent's clock probe (`agent/src/probe/clock.rs`), a pure function
//! tested with literal values.

/// What `adjtimex(2)` said, as the kernel gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timex {
    /// The return value: the clock state (`TIME_OK` 0 ... `TIME_ERROR` 5).
    pub state: i32,
    /// `status`: the `STA_*` bits (`STA_UNSYNC` is 0x40).
    pub status: i32,
    /// `maxerror`: maximum error, microseconds.
    pub max_error_us: i64,
    /// `esterror`: estimated error, microseconds.
    pub est_error_us: i64,
}

/// `STA_UNSYNC`: the clock is not synchronised (set by the kernel when `maxerror` reaches
/// 16 s, cleared by an NTP daemon that disciplines the clock).
pub const STA_UNSYNC: i32 = libc::STA_UNSYNC;
/// `TIME_ERROR`: the clock state the kernel reports while unsynchronised.
pub const TIME_ERROR: i32 = libc::TIME_ERROR;

/// Reads the clock state. Fails only where the call is refused (a seccomp filter, a
/// kernel without it): the error is the OS error.
pub fn read() -> std::io::Result<Timex> {
    // SAFETY: `timex` is plain old data, zeroed (so `modes` is 0: read only); the kernel
    // writes into it and keeps no pointer after the call returns.
    #[allow(unsafe_code)]
    let (state, tx) = unsafe {
        let mut tx: libc::timex = std::mem::zeroed();
        let state = libc::adjtimex(&mut tx);
        (state, tx)
    };
    if state < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // `c_long` is 32 bits on 32-bit targets.
    #[allow(clippy::useless_conversion)]
    Ok(Timex {
        state,
        status: tx.status,
        max_error_us: i64::from(tx.maxerror),
        est_error_us: i64::from(tx.esterror),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_hosts_clock() {
        let t = read().unwrap();
        assert!((0..=5).contains(&t.state), "state {}", t.state);
        assert!(t.max_error_us >= 0 && t.est_error_us >= 0, "{t:?}");
    }
}
