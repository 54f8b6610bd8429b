//! One generator of made-up SLA months, shared by the SLA ground truth
//! (`collector/tests/sla_ground_truth.rs`) and the SLA benchmark
//! (`collector/examples/zf-sla-bench.rs`).
//!
//! A month is a [`World`] (its span, a [`Topology`] of sites and links with their outages,
//! the [`Timing`] of reports, a [`ReportStyle`] and a [`ProbeModel`]) and the [`HostPlan`]s
//! of its hosts: when each reports ([`HostPlan::made`]: its grid, silences, reboots and how
//! its reports reach the collector, [`Made`]) and what it reports ([`World::report`], the
//! protocol's [`Report`](zerofault_protocol::Report) with one window per probed link).
//!
//! Everything is pure and deterministic: the same plans give the same reports, byte for
//! byte; random choices come from [`Rng`] seeded per host, link and window. Storing the
//! reports (and what the collector makes of them) is left to the caller, so that this crate
//! does not depend on the collector: a collector test using it sees one copy of the
//! collector crate.
//!
//! The two users differ where their purpose does, and the generator takes those as
//! parameters:
//!
//! - the ground truth writes a small schedule by hand (February 2026, 9 hosts, 5 links) as
//!   `HostPlan`s and `LinkPlan`s, with [`ReportStyle::Plain`] and [`ProbeModel::Exact`], so
//!   that every figure can be computed independently from the schedule;
//! - the benchmark draws a month of any size ([`Synthetic`], January 2026) with
//!   [`ReportStyle::Rich`] and [`ProbeModel::Noisy`], like a real fleet's reports.

mod clock;
mod plan;
mod synthetic;
mod world;

pub use clock::{DAY, HOUR, MIN, Rng, S, ceil_div, local};
pub use plan::{Delivery, HostPlan, LinkPlan, Made, Sequence, Silence, Site, Timing, Topology};
pub use synthetic::{
    DATA_CENTERS, DEPARTMENTS, SYSTEMS_PER_DEPARTMENT, Synthetic, business_system, host_id,
};
pub use world::{COLLECTOR_YAML, NoisyWindow, ProbeModel, ReportStyle, Usage, World};
