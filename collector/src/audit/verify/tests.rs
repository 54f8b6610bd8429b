use std::time::Duration;

use super::*;

const HOUR: Duration = Duration::from_secs(3600);

fn verified(sealed_through: u64, oldest_unsealed_ms: Option<i64>) -> Verified {
    Verified {
        records: 10,
        first_seq: 1,
        head: Some((10, "ab".repeat(32))),
        sealed_through,
        oldest_unsealed_ms,
        ..Verified::default()
    }
}

#[test]
fn records_long_unsealed_are_noted_a_quiet_sealed_log_is_not() {
    let now = 100 * 3_600_000;
    let old = seal_age_note(&verified(4, Some(now - 4 * 3_600_000)), HOUR, now).unwrap();
    assert!(
        old.contains("records after 4 are unsealed, the oldest for 240 min"),
        "{old}"
    );
    // Unsealed for less than three intervals: a collector will seal them.
    assert_eq!(
        seal_age_note(&verified(4, Some(now - 3_600_000)), HOUR, now),
        None
    );
    // All sealed, however long ago: nothing to say.
    assert_eq!(seal_age_note(&verified(10, None), HOUR, now), None);
}
