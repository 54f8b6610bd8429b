//! SLA adjustments (`store::adjustments`) on PostgreSQL: the row and its audit record in one
//! transaction that holds the audit head's lock, the row's id the record's seq.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::security::{head, insert};
use crate::audit::chain::{self, Entry, HashAlg, Record};
use crate::store::adjustments::{Adjustment, NewAdjustment, Withdrawal};
use crate::store::api::StoreError;

const COLUMNS: &str = "id, kind, code, start_ms, end_ms, reason, actor, created_ms, \
     withdrawn_seq, withdrawn_actor, withdrawn_ms, withdrawn_reason";

fn adjustment(r: &Row) -> Adjustment {
    let withdrawn_seq: Option<i64> = r.get(8);
    Adjustment {
        id: r.get::<_, i64>(0) as u64,
        what: NewAdjustment {
            kind: r.get(1),
            code: r.get(2),
            start_ms: r.get(3),
            end_ms: r.get(4),
            reason: r.get(5),
        },
        actor: r.get(6),
        created_ms: r.get(7),
        withdrawn: withdrawn_seq.map(|seq| Withdrawal {
            seq: seq as u64,
            actor: r.get::<_, Option<String>>(9).unwrap_or_default(),
            at_ms: r.get::<_, Option<i64>>(10).unwrap_or_default(),
            reason: r.get::<_, Option<String>>(11).unwrap_or_default(),
        }),
    }
}

pub(super) async fn add(
    client: &mut deadpool_postgres::Client,
    what: NewAdjustment,
    entry: Entry,
    alg: HashAlg,
) -> Result<(Adjustment, Record), StoreError> {
    let tx = client.transaction().await?;
    let head = head(&tx).await?;
    let record = chain::link(head.as_ref().map(|(s, h)| (*s, h.as_str())), entry, alg);
    insert(&tx, &record).await?;
    tx.execute(
        "INSERT INTO sla_adjustments (id, kind, code, start_ms, end_ms, reason, actor, created_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &(record.seq as i64),
            &what.kind,
            &what.code,
            &what.start_ms,
            &what.end_ms,
            &what.reason,
            &record.entry.actor,
            &record.entry.at_ms,
        ],
    )
    .await?;
    tx.commit().await?;
    let stored = Adjustment {
        id: record.seq,
        what,
        actor: record.entry.actor.clone(),
        created_ms: record.entry.at_ms,
        withdrawn: None,
    };
    Ok((stored, record))
}

pub(super) async fn withdraw(
    client: &mut deadpool_postgres::Client,
    id: u64,
    reason: String,
    entry: Entry,
    alg: HashAlg,
) -> Result<Option<(Adjustment, Record)>, StoreError> {
    let tx = client.transaction().await?;
    // The head's lock first, as every append takes it: two withdrawals of one adjustment
    // take turns, and the second finds it withdrawn.
    let head = head(&tx).await?;
    let live = tx
        .query_opt(
            "SELECT id FROM sla_adjustments WHERE id = $1 AND withdrawn_seq IS NULL",
            &[&(id as i64)],
        )
        .await?;
    if live.is_none() {
        return Ok(None);
    }
    let record = chain::link(head.as_ref().map(|(s, h)| (*s, h.as_str())), entry, alg);
    insert(&tx, &record).await?;
    tx.execute(
        "UPDATE sla_adjustments SET withdrawn_seq = $2, withdrawn_actor = $3, withdrawn_ms = $4,
            withdrawn_reason = $5
         WHERE id = $1",
        &[
            &(id as i64),
            &(record.seq as i64),
            &record.entry.actor,
            &record.entry.at_ms,
            &reason,
        ],
    )
    .await?;
    let row = tx
        .query_one(
            &format!("SELECT {COLUMNS} FROM sla_adjustments WHERE id = $1"),
            &[&(id as i64)],
        )
        .await?;
    tx.commit().await?;
    Ok(Some((adjustment(&row), record)))
}

pub(super) async fn overlapping(
    c: &impl GenericClient,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<Adjustment>, StoreError> {
    let rows = c
        .query(
            &format!(
                "SELECT {COLUMNS} FROM sla_adjustments WHERE start_ms < $2 AND end_ms > $1 ORDER BY id"
            ),
            &[&from_ms, &to_ms],
        )
        .await?;
    Ok(rows.iter().map(adjustment).collect())
}
