//! Clock synchronisation: the kernel's NTP state (`adjtimex(2)`, read only, through
//! `zerofault-sys`), every collection. The SLA places reports by the host's clock, so
//! an unsynchronised one is worth flagging before its figures are trusted.

use zerofault_protocol::{ClockSync, Report};
use zerofault_sys::clock::{STA_UNSYNC, TIME_ERROR, Timex};

use super::source::{Probe, ProbeError};

/// What a `Timex` means: synchronised when the kernel's state is not `TIME_ERROR` and
/// `STA_UNSYNC` is clear (what `ntp_gettime`'s callers and `timedatectl` check); the error
/// bounds in seconds (negative values, which the kernel never gives, count as 0).
pub fn interpret(t: &Timex) -> ClockSync {
    let seconds = |us: i64| us.max(0) as f64 / 1e6;
    ClockSync {
        synchronised: t.state != TIME_ERROR && t.status & STA_UNSYNC == 0,
        max_error_seconds: seconds(t.max_error_us),
        estimated_error_seconds: seconds(t.est_error_us),
    }
}

/// Fills `clock`.
#[derive(Debug)]
pub struct ClockProbe;

fn read() -> Result<Timex, ProbeError> {
    zerofault_sys::clock::read().map_err(|source| ProbeError::Read {
        path: "adjtimex(2)".into(),
        source,
    })
}

impl ClockProbe {
    /// Creates the probe after one read: a call that a system call filter refuses (a unit
    /// with `ProtectClock=yes`, a container's seccomp profile) is refused every time, so
    /// the probe is left out with one warning at start rather than one per report.
    pub fn new() -> Result<Self, ProbeError> {
        read()?;
        Ok(Self)
    }
}

impl Probe for ClockProbe {
    fn name(&self) -> &'static str {
        "clock"
    }

    fn collect(&mut self, report: &mut Report) -> Result<(), ProbeError> {
        report.clock = Some(interpret(&read()?));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synchronised_by_a_daemon() {
        // chrony on a VM: TIME_OK, STA_PLL only, 0.25 s max error, 500 us estimated.
        let t = Timex {
            state: 0,
            status: 0x0001,
            max_error_us: 250_000,
            est_error_us: 500,
        };
        assert_eq!(
            interpret(&t),
            ClockSync {
                synchronised: true,
                max_error_seconds: 0.25,
                estimated_error_seconds: 0.0005,
            }
        );
    }

    #[test]
    fn unsynchronised() {
        // No daemon since boot: STA_UNSYNC, TIME_ERROR, maxerror saturated at 16 s.
        let t = Timex {
            state: 5,
            status: 0x0040,
            max_error_us: 16_000_000,
            est_error_us: 16_000_000,
        };
        let c = interpret(&t);
        assert!(!c.synchronised);
        assert_eq!(c.max_error_seconds, 16.0);
        // The flag alone is enough, whatever the state says.
        assert!(!interpret(&Timex { state: 0, ..t }).synchronised);
        assert!(!interpret(&Timex { status: 0, ..t }).synchronised);
    }

    #[test]
    fn this_hosts_clock_is_read() {
        let mut r = Report::default();
        ClockProbe::new().unwrap().collect(&mut r).unwrap();
        assert!(r.clock.unwrap().max_error_seconds >= 0.0);
    }
}
