//! Plain-HTTP listener: `/metrics` (Prometheus text format) and `/healthz`.
// PLACEHOLDER SIGNATURES (owned by the expose/certs/demo helper; replace the bodies).

use std::sync::Arc;

use crate::state::{HostTable, IngestCounters};

/// Builds the router of the plain-HTTP listener.
pub fn router(
    _hosts: Arc<HostTable>,
    _counters: Arc<IngestCounters>,
    _down_after_intervals: u32,
) -> axum::Router {
    todo!("expose::router")
}
