//! How one metric family is written (HELP, TYPE, samples): the leaf every family file uses.

use std::fmt;

use prometheus_client::encoding::{
    DescriptorEncoder, EncodeCounterValue, EncodeGaugeValue, NoLabelSet,
};
use prometheus_client::metrics::MetricType;

/// A label set: static names, values borrowed from the snapshot.
pub(super) type Labels<'a> = Vec<(&'static str, &'a str)>;

/// Writes one gauge family (HELP, TYPE, samples).
pub(super) fn gauge<'a, V: EncodeGaugeValue>(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    series: impl IntoIterator<Item = (Labels<'a>, V)>,
) -> fmt::Result {
    let mut metric = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in series {
        metric.encode_family(&labels)?.encode_gauge(&value)?;
    }
    Ok(())
}

/// Writes one counter family. `name` is the full sample name; the encoder appends the
/// `_total` suffix itself, so it is stripped here to keep the names greppable in the family
/// files.
pub(super) fn counter<'a, V: EncodeCounterValue>(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    series: impl IntoIterator<Item = (Labels<'a>, V)>,
) -> fmt::Result {
    let base = name
        .strip_suffix("_total")
        .expect("counter names end in _total");
    let mut metric = enc.encode_descriptor(base, help, None, MetricType::Counter)?;
    for (labels, value) in series {
        metric
            .encode_family(&labels)?
            .encode_counter::<NoLabelSet, _, u64>(&value, None)?;
    }
    Ok(())
}
