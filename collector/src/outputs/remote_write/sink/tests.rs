//! Sharding and extra labels on literal series.
use proptest::prelude::*;

use super::*;
use crate::outputs::remote_write::wire::Sample;

fn series(name: &str, samples: &[(i64, f64)]) -> TimeSeries {
    TimeSeries {
        labels: vec![Label {
            name: "__name__".into(),
            value: name.into(),
        }],
        samples: samples
            .iter()
            .map(|&(timestamp, value)| Sample { value, timestamp })
            .collect(),
    }
}

proptest! {
    /// Whatever the round, shards and request size: every sample is in exactly one
    /// request, a series lives in one shard only, its samples are in time order within
    /// and across that shard's requests, and no request is over the size.
    #[test]
    fn shards_keep_every_sample_once_and_each_series_in_order(
        records in prop::collection::vec(prop::collection::vec((0u8..12, 0i64..50), 1..20), 1..20),
        shards in 1usize..6,
        max in 1usize..40,
    ) {
        let mut input = Vec::new();
        let mut expected: HashMap<String, Vec<i64>> = HashMap::new();
        for record in &records {
            for &(s, ts) in record {
                let name = format!("s{s}");
                input.push(series(&name, &[(ts, ts as f64)]));
                expected.entry(name).or_default().push(ts);
            }
        }
        let out = shard_requests(input, shards, max);
        prop_assert_eq!(out.len(), shards);
        let mut seen: HashMap<String, (usize, Vec<i64>)> = HashMap::new();
        for (shard, requests) in out.iter().enumerate() {
            for r in requests {
                prop_assert!(samples_in(r) as usize <= max);
                prop_assert!(samples_in(r) > 0);
                for s in &r.timeseries {
                    let e = seen.entry(s.labels[0].value.clone()).or_insert((shard, Vec::new()));
                    prop_assert_eq!(e.0, shard, "a series in two shards");
                    e.1.extend(s.samples.iter().map(|x| x.timestamp));
                }
            }
        }
        for (name, mut ts) in expected {
            ts.sort();
            prop_assert_eq!(&seen[&name].1, &ts, "{}", name);
        }
    }
}

#[test]
fn extra_labels_are_added_sorted_and_never_override_a_series_label() {
    let mut s = series("up", &[(1, 1.0)]);
    s.labels.push(Label {
        name: "region".into(),
        value: "own".into(),
    });
    let extra = [("region", "gov-cloud"), ("cluster", "a")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    with_extra_labels(&mut s, &extra);
    let labels: Vec<(&str, &str)> = s
        .labels
        .iter()
        .map(|l| (l.name.as_str(), l.value.as_str()))
        .collect();
    assert_eq!(
        labels,
        [("__name__", "up"), ("cluster", "a"), ("region", "own")]
    );
}
