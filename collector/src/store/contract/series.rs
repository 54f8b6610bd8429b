//! The downsampled series (`crate::series`) in every backend: slots written into their
//! hour rows, a late piece merged, ranges read by slot, old hour rows deleted; and the
//! receive-time window the crash rebuild reads. Run by [`super::contract_tests!`] like the rest.

use super::kit::{Backend, report};
use crate::series::slot::{Covered, Figure, Kind, LinkRow, SLOT_MS, SeriesKey, SeriesSlot};

const T0: i64 = 1_767_225_600_000;

fn key(agent: &str, slot: i64) -> SeriesKey {
    SeriesKey {
        agent_id: agent.into(),
        slot_start_ms: T0 + slot * SLOT_MS,
    }
}

/// A piece holding report `seq` of boot 1 with one CPU value and one link's loss.
fn piece(seq: u64, cpu: u64, link: &str, loss: u64) -> SeriesSlot {
    let mut s = SeriesSlot::default();
    s.host.coverage.push(Covered {
        boot: 1,
        first: seq,
        last: seq,
    });
    s.host.figures.push(Figure::one(Kind::Cpu, "", cpu));
    s.links.insert(
        link.into(),
        LinkRow {
            figures: vec![Figure::one(Kind::Loss, "", loss)],
        },
    );
    s
}

fn cpu(figures: &[Figure]) -> (u64, u64, u64, u64) {
    let f = figures.iter().find(|f| f.kind == Kind::Cpu as u32).unwrap();
    (f.count, f.sum, f.min, f.max)
}

pub async fn series_slots_are_written_merged_and_read_by_range(backend: &dyn Backend) {
    let store = backend.open().await;
    let merged = store
        .merge_series(vec![
            (key("a", 0), piece(1, 100, "l1", 0)),
            (key("a", 1), piece(2, 300, "l1", 10)),
            (key("b", 0), piece(1, 500, "l1", 1_000_000)),
        ])
        .await
        .unwrap();
    assert_eq!(merged, Default::default());
    // A late piece of slot 0 of `a` (backfill after the slot was written) joins it.
    let merged = store
        .merge_series(vec![(key("a", 0), piece(3, 700, "l1", 20))])
        .await
        .unwrap();
    assert_eq!(merged, Default::default());
    let host = store
        .host_series("a".into(), T0, T0 + 2 * SLOT_MS, 100)
        .await
        .unwrap();
    let got: Vec<(i64, (u64, u64, u64, u64))> = host.iter().map(|(t, r)| (*t, cpu(r))).collect();
    assert_eq!(
        got,
        [(T0, (2, 800, 100, 700)), (T0 + SLOT_MS, (1, 300, 300, 300))]
    );
    // The range is by slot start, end excluded; the limit holds.
    let only_second = store
        .host_series("a".into(), T0 + 1, T0 + 2 * SLOT_MS, 100)
        .await
        .unwrap();
    assert_eq!(only_second.len(), 1);
    assert_eq!(
        store
            .host_series("a".into(), T0, T0 + 2 * SLOT_MS, 1)
            .await
            .unwrap()
            .len(),
        1
    );
    // A link's rows: every vantage point, by slot then agent.
    let link = store
        .link_series("l1".into(), T0, T0 + 2 * SLOT_MS, 100)
        .await
        .unwrap();
    let got: Vec<(i64, &str, u64)> = link
        .slots
        .iter()
        .map(|l| (l.slot_start_ms, l.agent_id.as_str(), l.row.figures[0].count))
        .collect();
    assert_eq!(got, [(T0, "a", 2), (T0, "b", 1), (T0 + SLOT_MS, "a", 1)]);
    assert!(!link.truncated);
    // The same report merged again is found overlapping (two collectors held it).
    let merged = store
        .merge_series(vec![(key("a", 0), piece(3, 700, "l1", 20))])
        .await
        .unwrap();
    assert_eq!(merged.overlapped, 1);
    // The rebuild's coverage read: the hour row of each key, stored keys only. One coverage
    // for the hour: reports 1 and 3 (slot 0) and 2 (slot 1).
    let rows = store
        .series_coverage(vec![key("a", 0), key("a", 1), key("a", 12), key("zz", 0)])
        .await
        .unwrap();
    let got: Vec<(i64, Vec<(u64, u64)>)> = rows
        .iter()
        .map(|(k, c)| {
            (
                k.slot_start_ms,
                c.iter().map(|c| (c.first, c.last)).collect(),
            )
        })
        .collect();
    assert_eq!(got, [(T0, vec![(1, 3)]), (T0 + SLOT_MS, vec![(1, 3)])]);
    // A slot in the next hour is a row of its own; a link read cut by its row limit ends
    // before the hour it could not read whole.
    store
        .merge_series(vec![(key("a", 12), piece(4, 1, "l1", 0))])
        .await
        .unwrap();
    let all = store
        .link_series("l1".into(), T0, T0 + 24 * SLOT_MS, 3)
        .await
        .unwrap();
    assert_eq!((all.slots.len(), all.truncated), (4, false));
    let cut = store
        .link_series("l1".into(), T0, T0 + 24 * SLOT_MS, 2)
        .await
        .unwrap();
    assert_eq!((cut.slots.len(), cut.truncated), (3, true));
    let cut = store
        .link_series("l1".into(), T0, T0 + 24 * SLOT_MS, 1)
        .await
        .unwrap();
    assert_eq!((cut.slots.len(), cut.truncated), (0, true));
}

pub async fn retention_deletes_old_series_hours_in_batches(backend: &dyn Backend) {
    let store = backend.open().await;
    // One slot in each of hours 0..5.
    let slots: Vec<_> = (0..5)
        .map(|i| (key("a", 12 * i), piece(i as u64 + 1, 1, "l1", 1)))
        .collect();
    store.merge_series(slots).await.unwrap();
    // Hours 0..3 are old: 3 host rows and 3 link rows, deleted 4 at a time. Whole rows: the
    // hour that `before` falls in stays.
    let before = T0 + 36 * SLOT_MS + 1;
    assert_eq!(store.delete_series(before, 4).await.unwrap(), 4);
    assert_eq!(store.delete_series(before, 4).await.unwrap(), 2);
    assert_eq!(store.delete_series(before, 4).await.unwrap(), 0);
    let host = store
        .host_series("a".into(), T0, T0 + 60 * SLOT_MS, 100)
        .await
        .unwrap();
    assert_eq!(
        host.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
        [T0 + 36 * SLOT_MS, T0 + 48 * SLOT_MS]
    );
    let link = store
        .link_series("l1".into(), T0, T0 + 60 * SLOT_MS, 100)
        .await
        .unwrap();
    assert_eq!(link.slots.len(), 2);
}

pub async fn reports_received_pages_a_window_in_receive_order(backend: &dyn Backend) {
    let store = backend.open().await;
    for (seq, received) in [(1, 100), (2, 300), (3, 200), (4, 400), (5, 50)] {
        let mut r = report("a", seq, received);
        r.link_data = seq % 2 == 0;
        store.insert(r).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.reports_received(100, 400, after, 2).await.unwrap();
        seen.extend(page.reports.iter().map(|r| r.sequence));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    // Every report, link data or not, received in [100, 400), by receive time.
    assert_eq!(seen, [1, 3, 2]);
}
