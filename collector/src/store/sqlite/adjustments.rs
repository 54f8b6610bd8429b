//! SLA adjustments (`store::adjustments`) on SQLite: the row and its audit record in one
//! IMMEDIATE transaction, the row's id the record's seq.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::security::{head, insert};
use crate::audit::chain::{self, Entry, HashAlg, Record};
use crate::store::adjustments::{Adjustment, NewAdjustment, Withdrawal};
use crate::store::api::StoreError;

const COLUMNS: &str = "id, kind, code, start_ms, end_ms, reason, actor, created_ms, \
     withdrawn_seq, withdrawn_actor, withdrawn_ms, withdrawn_reason";

fn adjustment(r: &rusqlite::Row<'_>) -> rusqlite::Result<Adjustment> {
    let withdrawn_seq: Option<i64> = r.get(8)?;
    Ok(Adjustment {
        id: r.get::<_, i64>(0)? as u64,
        what: NewAdjustment {
            kind: r.get(1)?,
            code: r.get(2)?,
            start_ms: r.get(3)?,
            end_ms: r.get(4)?,
            reason: r.get(5)?,
        },
        actor: r.get(6)?,
        created_ms: r.get(7)?,
        withdrawn: match withdrawn_seq {
            Some(seq) => Some(Withdrawal {
                seq: seq as u64,
                actor: r.get::<_, Option<String>>(9)?.unwrap_or_default(),
                at_ms: r.get::<_, Option<i64>>(10)?.unwrap_or_default(),
                reason: r.get::<_, Option<String>>(11)?.unwrap_or_default(),
            }),
            None => None,
        },
    })
}

fn by_id(conn: &rusqlite::Connection, id: u64) -> Result<Option<Adjustment>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM sla_adjustments WHERE id = ?1"),
            params![id as i64],
            adjustment,
        )
        .optional()?)
}

pub(super) fn add(
    conn: &mut Connection,
    what: NewAdjustment,
    entry: Entry,
    alg: HashAlg,
) -> Result<(Adjustment, Record), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let head = head(&tx)?;
    let record = chain::link(head.as_ref().map(|(s, h)| (*s, h.as_str())), entry, alg);
    insert(&tx, &record)?;
    tx.execute(
        "INSERT INTO sla_adjustments (id, kind, code, start_ms, end_ms, reason, actor, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            record.seq as i64,
            what.kind,
            what.code,
            what.start_ms,
            what.end_ms,
            what.reason,
            record.entry.actor,
            record.entry.at_ms
        ],
    )?;
    tx.commit()?;
    let stored = Adjustment {
        id: record.seq,
        what,
        actor: record.entry.actor.clone(),
        created_ms: record.entry.at_ms,
        withdrawn: None,
    };
    Ok((stored, record))
}

pub(super) fn withdraw(
    conn: &mut Connection,
    id: u64,
    reason: String,
    entry: Entry,
    alg: HashAlg,
) -> Result<Option<(Adjustment, Record)>, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let live: Option<i64> = tx
        .query_row(
            "SELECT id FROM sla_adjustments WHERE id = ?1 AND withdrawn_seq IS NULL",
            params![id as i64],
            |r| r.get(0),
        )
        .optional()?;
    if live.is_none() {
        return Ok(None);
    }
    let head = head(&tx)?;
    let record = chain::link(head.as_ref().map(|(s, h)| (*s, h.as_str())), entry, alg);
    insert(&tx, &record)?;
    tx.execute(
        "UPDATE sla_adjustments SET withdrawn_seq = ?2, withdrawn_actor = ?3, withdrawn_ms = ?4,
            withdrawn_reason = ?5
         WHERE id = ?1",
        params![
            id as i64,
            record.seq as i64,
            record.entry.actor,
            record.entry.at_ms,
            reason
        ],
    )?;
    // Read inside the transaction: once it commits, the withdrawal is recorded, and a
    // failed read after that would be told as "nothing recorded".
    let stored = by_id(&tx, id)?;
    tx.commit()?;
    Ok(stored.map(|a| (a, record)))
}

pub(super) fn overlapping(
    conn: &Connection,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<Adjustment>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM sla_adjustments WHERE start_ms < ?2 AND end_ms > ?1 ORDER BY id"
    ))?;
    let rows = stmt.query_map(params![from_ms, to_ms], adjustment)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}
