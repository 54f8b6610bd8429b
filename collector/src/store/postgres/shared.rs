//! What several collectors on one database share (docs/scale-out.md): the lease rows, and
//! the reads with which a lease holder learns of reports other collectors stored.
//!
//! The lease is plain SQL, no advisory locks, so that it runs on Citus and openGauss too:
//! an `UPDATE` that renews the holder's own row or takes over an expired one, else an
//! `INSERT ... ON CONFLICT DO NOTHING` that makes the row. Under READ COMMITTED two
//! collectors updating the row at once take turns on its row lock, and the second one's
//! condition is checked again on the row the first one wrote, so both cannot win; two
//! inserts at once conflict on the key and one inserts nothing.

use deadpool_postgres::GenericClient;

use super::queries::{REPORT_COLUMNS, limit_of, stored_report};
use crate::store::api::{ReportKey, StoreError, StoredReport};

pub(super) async fn try_lease(
    c: &impl GenericClient,
    name: &str,
    holder: &str,
    ttl_ms: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let expires = now.saturating_add(ttl_ms.max(0));
    let renewed = c
        .execute(
            "UPDATE leases SET holder = $2, expires_unix_ms = $3
             WHERE name = $1 AND (holder = $2 OR expires_unix_ms <= $4)",
            &[&name, &holder, &expires, &now],
        )
        .await?;
    if renewed == 1 {
        return Ok(true);
    }
    let made = c
        .execute(
            "INSERT INTO leases (name, holder, expires_unix_ms) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO NOTHING",
            &[&name, &holder, &expires],
        )
        .await?;
    Ok(made == 1)
}

pub(super) async fn release_lease(
    c: &impl GenericClient,
    name: &str,
    holder: &str,
) -> Result<(), StoreError> {
    c.execute(
        "DELETE FROM leases WHERE name = $1 AND holder = $2",
        &[&name, &holder],
    )
    .await?;
    Ok(())
}

pub(super) async fn newest_keys_since(
    c: &impl GenericClient,
    since_ms: i64,
    limit: usize,
) -> Result<Vec<ReportKey>, StoreError> {
    // A range of `reports_received_order` (its first column), grouped: no body is read.
    let rows = c
        .query(
            "SELECT agent_id, boot_id, MAX(sequence) FROM reports
             WHERE received_ms >= $1
             GROUP BY agent_id, boot_id ORDER BY agent_id, boot_id LIMIT $2",
            &[&since_ms, &limit_of(limit)],
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(ReportKey {
                agent_id: row.try_get(0)?,
                boot_id: row.try_get(1)?,
                sequence: row.try_get::<_, i64>(2)? as u64,
            })
        })
        .collect()
}

pub(super) async fn reports_by_key(
    c: &impl GenericClient,
    keys: &[ReportKey],
) -> Result<Vec<StoredReport>, StoreError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    // One statement for the whole list (a row-value IN list: standard SQL, one round trip),
    // each key one primary-key lookup.
    let list: Vec<String> = (0..keys.len())
        .map(|i| format!("(${}, ${}, ${})", 3 * i + 1, 3 * i + 2, 3 * i + 3))
        .collect();
    let sql = format!(
        "SELECT {REPORT_COLUMNS} FROM reports
         WHERE (agent_id, boot_id, sequence) IN ({})
         ORDER BY agent_id, boot_id, sequence",
        list.join(", ")
    );
    let sequences: Vec<i64> = keys.iter().map(|k| k.sequence as i64).collect();
    let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
        Vec::with_capacity(3 * keys.len());
    for (k, seq) in keys.iter().zip(&sequences) {
        params.push(&k.agent_id);
        params.push(&k.boot_id);
        params.push(seq);
    }
    let rows = c.query(&sql, &params).await?;
    Ok(rows
        .iter()
        .map(stored_report)
        .collect::<Result<Vec<_>, _>>()?)
}
