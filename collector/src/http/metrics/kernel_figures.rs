//! The families of [`crate::figures`]: block devices (label `device`), TCP counters and the
//! clock, one table each, the same rows remote_write pushes.

use std::fmt;

use prometheus_client::encoding::{
    CounterValueEncoder, DescriptorEncoder, EncodeCounterValue, EncodeGaugeValue, GaugeValueEncoder,
};

use super::encode::{Labels, counter, gauge};
use super::view::HostView;
use crate::figures::{CLOCK, DISK, Figure, FigureKind, FigureValue, TCP};

impl EncodeGaugeValue for FigureValue {
    fn encode(&self, encoder: &mut GaugeValueEncoder) -> fmt::Result {
        match *self {
            Self::Count(v) => EncodeGaugeValue::encode(&v, encoder),
            Self::Real(v) => EncodeGaugeValue::encode(&v, encoder),
        }
    }
}

impl EncodeCounterValue for FigureValue {
    fn encode(&self, encoder: &mut CounterValueEncoder) -> fmt::Result {
        match *self {
            Self::Count(v) => EncodeCounterValue::encode(&v, encoder),
            Self::Real(v) => EncodeCounterValue::encode(&v, encoder),
        }
    }
}

/// Writes every family of `table` that `full` detail keeps, one sample per item that
/// `items` gives for each host.
fn encode_table<'a, T: 'static>(
    enc: &mut DescriptorEncoder<'_>,
    hosts: &[HostView<'a>],
    table: &[Figure<T>],
    full: bool,
    items: impl Fn(&HostView<'a>) -> Vec<(Labels<'a>, &'a T)>,
) -> fmt::Result {
    // The items of every host once per table, not once per family.
    let rows: Vec<(Labels<'a>, &'a T)> = hosts.iter().flat_map(items).collect();
    for figure in table.iter().filter(|f| full || f.essential) {
        let series = rows
            .iter()
            .filter_map(|(labels, item)| (figure.value)(item).map(|v| (labels.clone(), v)));
        match figure.kind {
            FigureKind::Gauge => gauge(enc, figure.name, figure.help, series)?,
            FigureKind::Counter => counter(enc, figure.name, figure.help, series)?,
        }
    }
    Ok(())
}

/// Block devices, TCP and clock families of every host.
pub(super) fn encode_kernel_figures(
    enc: &mut DescriptorEncoder<'_>,
    hosts: &[HostView<'_>],
    full: bool,
) -> fmt::Result {
    encode_table(enc, hosts, &DISK, full, |h| {
        h.block_devices
            .iter()
            .map(|d| {
                let mut labels = h.labels();
                labels.push(("device", d.name.as_str()));
                (labels, *d)
            })
            .collect()
    })?;
    encode_table(enc, hosts, &TCP, full, |h| {
        h.report.tcp.iter().map(|t| (h.labels(), t)).collect()
    })?;
    encode_table(enc, hosts, &CLOCK, full, |h| {
        h.report.clock.iter().map(|c| (h.labels(), c)).collect()
    })
}
