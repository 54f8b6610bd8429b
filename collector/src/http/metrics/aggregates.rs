//! Department and data-center families: the sums of [`crate::aggregate`] as gauges.

use std::collections::BTreeMap;
use std::fmt;

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::gauge;
use crate::aggregate::{GROUP_FAMILIES, Sums};

/// Writes the aggregate families of one scope (`department` or `datacenter`).
pub(super) fn encode_aggregates(
    enc: &mut DescriptorEncoder<'_>,
    scope: &'static str,
    noun: &str,
    groups: &BTreeMap<&str, Sums>,
) -> fmt::Result {
    let name = |what: &str| format!("zerofault_{scope}_{what}");
    gauge(
        enc,
        &name("hosts"),
        &format!("Known hosts per {noun}, by state (up or down)."),
        groups.iter().flat_map(|(key, a)| {
            [
                (vec![(scope, *key), ("state", "up")], a.up),
                (vec![(scope, *key), ("state", "down")], a.down),
            ]
        }),
    )?;
    for (what, help, value) in &GROUP_FAMILIES {
        gauge(
            enc,
            &name(what),
            &format!(
                "{help}, summed over the {noun}'s known hosts (up and down, last reported values)."
            ),
            groups
                .iter()
                .map(|(key, a)| (vec![(scope, *key)], value(a))),
        )?;
    }
    Ok(())
}
