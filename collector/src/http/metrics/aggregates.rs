//! Department and data-center families: the sums of [`crate::aggregate`] as gauges.

use std::collections::BTreeMap;
use std::fmt;

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::gauge;
use crate::aggregate::Sums;

/// Name suffix, help prefix and value of one aggregate family.
type AggregateFamily = (&'static str, &'static str, fn(&Sums) -> u64);

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
    let families: [AggregateFamily; 5] = [
        ("cpu_cores", "Logical CPUs", |a| a.cpu_cores),
        ("memory_total_bytes", "Physical memory", |a| {
            a.memory_total_bytes
        }),
        ("memory_used_bytes", "Memory in use", |a| {
            a.memory_used_bytes
        }),
        ("filesystem_size_bytes", "Filesystem size", |a| {
            a.filesystem_size_bytes
        }),
        ("filesystem_used_bytes", "Filesystem space used", |a| {
            a.filesystem_used_bytes
        }),
    ];
    for (what, help, value) in families {
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
