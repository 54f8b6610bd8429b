//! Link probes: ICMP echo, TCP connect and HTTP(S) GET against configured targets, many
//! packets per report window, so a link's loss, RTT and jitter can be measured rather than
//! guessed from a single up/down check.
//!
//! * The probe kinds live one per file (`probe/icmp.rs`, `probe/tcp.rs`, `probe/http.rs`)
//!   behind [`LinkProbe`], and are listed in one table, [`LINK_PROBES`].
//! * [`target`] parses and checks what a target may be for each kind (shared by the config
//!   and the `probe` command) and resolves host names with a small cache.
//! * [`scheduler`] runs one light task per target and turns what they measured into one
//!   [`zerofault_protocol::LinkResult`] per target and report window, with the pure maths of
//!   [`crate::probe::link_stats`].

pub mod contract;
pub mod kind;
pub mod scheduler;
pub mod settings;
pub mod target;

use std::sync::Arc;

pub use contract::{
    LinkProbe, LinkProbeError, ProbeContext, ProbeFuture, ProbeResult, ProbeSpec, default_timeout,
};
pub use kind::{ErrorKind, LinkKind};
pub use target::Target;

use crate::probe::{http, icmp, tcp};

/// Builds the probe of one target. Must be called inside a tokio runtime (ICMP sockets spawn
/// their receive task).
pub type MakeLinkProbe =
    fn(&ProbeSpec, &ProbeContext) -> Result<Arc<dyn LinkProbe>, LinkProbeError>;

/// The link probe table: one line per kind; adding a kind is one file and one line here
/// (plus its target syntax in [`target`]).
pub const LINK_PROBES: &[(LinkKind, MakeLinkProbe)] = &[
    (LinkKind::Icmp, icmp::make),
    (LinkKind::Tcp, tcp::make),
    (LinkKind::Http, http::make),
];

/// Builds the probe for `spec` from [`LINK_PROBES`].
pub fn make_probe(
    spec: &ProbeSpec,
    ctx: &ProbeContext,
) -> Result<Arc<dyn LinkProbe>, LinkProbeError> {
    let make = LINK_PROBES
        .iter()
        .find(|(k, _)| *k == spec.kind)
        .map(|(_, m)| *m)
        .expect("every LinkKind has a line in LINK_PROBES");
    make(spec, ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_table_line_and_a_protocol_name() {
        for k in LinkKind::ALL {
            assert!(LINK_PROBES.iter().any(|(t, _)| *t == k), "{k}");
            assert!(zerofault_protocol::LINK_KINDS.contains(&k.as_str()));
            assert_eq!(LinkKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(LINK_PROBES.len(), LinkKind::ALL.len());
        assert_eq!(LinkKind::parse("udp"), None);
    }
}
