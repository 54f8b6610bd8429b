//! The queue's invariants on literal inputs: order, acknowledgement, restart, torn tail,
//! damage, and the cap.

use super::*;

fn payload(i: u32) -> Vec<u8> {
    format!("record {i:05}").into_bytes()
}

/// Reads everything from the cursor, acknowledging as it goes; returns the payloads.
fn drain(q: &Queue) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let batch = q.read(q.cursor(), 3, None).unwrap();
        if batch.records.is_empty() && batch.next == q.cursor() {
            return out;
        }
        out.extend(batch.records.into_iter().map(|r| r.payload));
        q.ack(batch.next).unwrap();
    }
}

#[test]
fn records_come_back_in_order_and_go_once_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let (q, opened) = Queue::open(dir.path(), 1 << 30).unwrap();
    assert_eq!(opened, Opened::default());
    for i in 0..10 {
        q.append(7, 1_000 + i64::from(i), &payload(i)).unwrap();
    }
    assert_eq!(q.stats().0, 70);
    let batch = q.read(q.cursor(), 20, None).unwrap();
    // Whole records until at least 20 samples: 3 records.
    assert_eq!(batch.records.len(), 3);
    assert_eq!(batch.records[0].payload, payload(0));
    assert_eq!(batch.records[0].enqueued_ms, 1_000);
    // Not acknowledged: read again from the cursor, the same records.
    assert_eq!(q.read(q.cursor(), 20, None).unwrap().records, batch.records);
    q.ack(batch.next).unwrap();
    assert_eq!(q.stats().0, 49);
    let rest = drain(&q);
    assert_eq!(rest, (3..10).map(payload).collect::<Vec<_>>());
    assert_eq!(q.stats().0, 0);
}

#[test]
fn a_restart_resumes_at_the_cursor_without_repeating_or_losing() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (q, _) = Queue::open(dir.path(), 1 << 30).unwrap();
        for i in 0..6 {
            q.append(1, 0, &payload(i)).unwrap();
        }
        let batch = q.read(q.cursor(), 2, None).unwrap();
        q.ack(batch.next).unwrap();
        // A round read but not acknowledged when the process ends is read again.
        let _ = q.read(q.cursor(), 2, None).unwrap();
        q.sync().unwrap();
    }
    let (q, opened) = Queue::open(dir.path(), 1 << 30).unwrap();
    assert_eq!(opened.samples, 4);
    q.append(1, 0, &payload(6)).unwrap();
    assert_eq!(drain(&q), (2..7).map(payload).collect::<Vec<_>>());
    // Fully delivered: after another restart nothing is left, and old segments are gone.
    drop(q);
    let (q, opened) = Queue::open(dir.path(), 1 << 30).unwrap();
    assert_eq!(opened.samples, 0);
    assert!(drain(&q).is_empty());
    let segments = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "seg")
        })
        .count();
    assert!(segments <= 2, "{segments} segments left");
}

#[test]
fn a_torn_tail_is_cut_and_the_whole_records_before_it_kept() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (q, _) = Queue::open(dir.path(), 1 << 30).unwrap();
        for i in 0..3 {
            q.append(2, 0, &payload(i)).unwrap();
        }
    }
    let seg = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .max()
        .unwrap();
    // Half a record at the end, as a crash while appending leaves it.
    let mut torn = encode_record(2, 0, &payload(3));
    torn.truncate(torn.len() / 2);
    let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
    f.write_all(&torn).unwrap();
    drop(f);
    let (q, opened) = Queue::open(dir.path(), 1 << 30).unwrap();
    assert_eq!(opened.truncated_bytes, torn.len() as u64);
    assert_eq!(opened.samples, 6);
    assert_eq!(drain(&q), (0..3).map(payload).collect::<Vec<_>>());
}

#[test]
fn a_damaged_record_ends_its_segment_and_is_counted_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = Queue::open(dir.path(), 1 << 30).unwrap();
    for i in 0..3 {
        q.append(1, 0, &payload(i)).unwrap();
    }
    q.sync().unwrap();
    let seg = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .max()
        .unwrap();
    // Flip a byte of the second record's payload.
    let mut bytes = std::fs::read(&seg).unwrap();
    let second = (HEADER_BYTES as usize + payload(0).len()) + HEADER_BYTES as usize + 2;
    bytes[second] ^= 0xff;
    std::fs::write(&seg, &bytes).unwrap();
    let batch = q.read(q.cursor(), 100, None).unwrap();
    assert_eq!(batch.records.len(), 1);
    assert_eq!(batch.corrupt, 1);
    q.ack(batch.next).unwrap();
    // Appends go on after the damage and are read.
    q.append(1, 0, &payload(9)).unwrap();
    let rest = drain(&q);
    assert!(rest.contains(&payload(9)), "{rest:?}");
}

#[test]
fn past_the_cap_the_oldest_segments_go_and_their_samples_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    // Segments of 64 KiB (the smallest), a cap of 256 KiB.
    let (q, _) = Queue::open(dir.path(), 256 << 10).unwrap();
    let big = vec![7u8; 10_000];
    let mut dropped = 0;
    for _ in 0..100 {
        dropped += q.append(10, 0, &big).unwrap().dropped_samples;
    }
    let (samples, bytes, _) = q.stats();
    assert!(bytes <= 256 << 10, "{bytes} bytes held");
    assert!(dropped > 0);
    // Every sample is either still queued or counted as dropped: none vanishes.
    assert_eq!(samples + dropped, 1000);
    let read: u64 = {
        let mut n = 0;
        loop {
            let batch = q.read(q.cursor(), 50, None).unwrap();
            if batch.records.is_empty() {
                break n;
            }
            n += batch
                .records
                .iter()
                .map(|r| u64::from(r.samples))
                .sum::<u64>();
            q.ack(batch.next).unwrap();
        }
    };
    assert_eq!(read, samples);
}

#[test]
fn a_drop_under_a_partly_read_segment_counts_only_what_was_not_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = Queue::open(dir.path(), 256 << 10).unwrap();
    let big = vec![1u8; 10_000];
    for _ in 0..6 {
        q.append(10, 0, &big).unwrap();
    }
    // Two records of the first segment delivered.
    let batch = q.read(q.cursor(), 20, None).unwrap();
    assert_eq!(batch.records.len(), 2);
    q.ack(batch.next).unwrap();
    let mut dropped = 0;
    for _ in 0..30 {
        dropped += q.append(10, 0, &big).unwrap().dropped_samples;
    }
    let (samples, _, _) = q.stats();
    assert_eq!(samples + dropped + 20, 360);
}

#[test]
fn a_rounds_progress_survives_a_restart_and_the_same_round_is_read_again() {
    let dir = tempfile::tempdir().unwrap();
    let end = {
        let (q, _) = Queue::open(dir.path(), 1 << 30).unwrap();
        for i in 0..5 {
            q.append(10, 0, &payload(i)).unwrap();
        }
        let round = q.read(q.cursor(), 30, None).unwrap();
        assert_eq!(round.records.len(), 3);
        q.save_progress(&Progress {
            start: q.cursor(),
            end: round.next,
            layout: 42,
            delivered: vec![1, 0],
        })
        .unwrap();
        // More records arrive after the round was read.
        q.append(10, 0, &payload(5)).unwrap();
        q.sync().unwrap();
        round.next
    };
    let (q, _) = Queue::open(dir.path(), 1 << 30).unwrap();
    let p = q.progress().expect("the round in flight");
    assert_eq!(
        (p.end, p.layout, p.delivered.clone()),
        (end, 42, vec![1, 0])
    );
    // Read to the saved end only, however much is there now.
    let again = q.read(q.cursor(), u64::MAX, Some(p.end)).unwrap();
    assert_eq!(again.next, end);
    assert_eq!(
        again
            .records
            .iter()
            .map(|r| r.payload.clone())
            .collect::<Vec<_>>(),
        (0..3).map(payload).collect::<Vec<_>>()
    );
    // Acknowledged: no progress any more.
    q.ack(again.next).unwrap();
    assert!(q.progress().is_none());
}

#[test]
fn a_round_that_ended_at_its_segments_end_is_found_again_after_the_segment_was_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let end = {
        let (q, _) = Queue::open(dir.path(), 1 << 30).unwrap();
        for i in 0..3 {
            q.append(10, 0, &payload(i)).unwrap();
        }
        // A caught-up round: everything appended, up to the end of the tail segment.
        let round = q.read(q.cursor(), u64::MAX, None).unwrap();
        assert_eq!(round.records.len(), 3);
        q.save_progress(&Progress {
            start: q.cursor(),
            end: round.next,
            layout: 1,
            delivered: vec![1],
        })
        .unwrap();
        q.sync().unwrap();
        round.next
    };
    // The restart seals that segment and opens a new one after it.
    let (q, _) = Queue::open(dir.path(), 1 << 30).unwrap();
    q.append(10, 0, &payload(3)).unwrap();
    let p = q.progress().unwrap();
    let again = q.read(q.cursor(), u64::MAX, Some(p.end)).unwrap();
    assert_eq!(
        again.next, end,
        "the same end, not the start of the next segment"
    );
    assert_eq!(again.records.len(), 3);
}
