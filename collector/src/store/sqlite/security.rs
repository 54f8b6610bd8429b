//! The security tables (`store::security`) on SQLite: run on the connection's thread, each
//! write in an IMMEDIATE transaction, so that the audit head read is the head written after
//! (another process on the same file, e.g. `certs revoke`, waits for the lock).

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::audit::chain::{self, Entry, HashAlg, Record, RetentionDetails};
use crate::store::api::StoreError;
use crate::store::security::{
    EnrollmentToken, MAX_AUDIT_PAGE, Redeemed, Revocation, RevocationChange, refusal,
};

const RECORD_COLUMNS: &str =
    "seq, at_ms, instance, actor, source, event, outcome, details, alg, prev, hash";

fn record(row: &rusqlite::Row<'_>) -> rusqlite::Result<Record> {
    let alg: String = row.get(8)?;
    Ok(Record {
        seq: row.get::<_, i64>(0)? as u64,
        entry: Entry {
            at_ms: row.get(1)?,
            instance: row.get(2)?,
            actor: row.get(3)?,
            source: row.get(4)?,
            event: row.get(5)?,
            outcome: row.get(6)?,
            details: row.get(7)?,
        },
        // An unknown name reads as SHA-256, whose hash then does not match: verify names
        // the record.
        alg: HashAlg::parse(&alg).unwrap_or_default(),
        prev: row.get(9)?,
        hash: row.get(10)?,
    })
}

/// The head `(seq, hash)`, `None` for an empty chain.
pub(super) fn head(tx: &rusqlite::Transaction<'_>) -> Result<Option<(u64, String)>, StoreError> {
    let (seq, hash): (i64, String) =
        tx.query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    Ok((seq > 0).then_some((seq as u64, hash)))
}

pub(super) fn insert(tx: &rusqlite::Transaction<'_>, r: &Record) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO audit_log (seq, at_ms, instance, actor, source, event, outcome, details, alg, prev, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            r.seq as i64,
            r.entry.at_ms,
            r.entry.instance,
            r.entry.actor,
            r.entry.source,
            r.entry.event,
            r.entry.outcome,
            r.entry.details,
            r.alg.as_str(),
            r.prev,
            r.hash
        ],
    )?;
    tx.execute(
        "UPDATE audit_head SET seq = ?1, hash = ?2 WHERE id = 1",
        params![r.seq as i64, r.hash],
    )?;
    Ok(())
}

pub(super) fn append_audit(
    conn: &mut Connection,
    entries: Vec<Entry>,
    alg: HashAlg,
) -> Result<Vec<Record>, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut head = head(&tx)?;
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let r = chain::link(head.as_ref().map(|(s, h)| (*s, h.as_str())), entry, alg);
        insert(&tx, &r)?;
        head = Some((r.seq, r.hash.clone()));
        out.push(r);
    }
    tx.commit()?;
    Ok(out)
}

pub(super) fn audit_page(
    conn: &Connection,
    after_seq: u64,
    limit: usize,
) -> Result<Vec<Record>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {RECORD_COLUMNS} FROM audit_log WHERE seq > ?1 ORDER BY seq LIMIT ?2"
    ))?;
    let limit = limit.clamp(1, MAX_AUDIT_PAGE) as i64;
    let rows = stmt.query_map(params![after_seq as i64, limit], record)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

pub(super) fn audit_head_row(conn: &Connection) -> Result<Option<(u64, String)>, StoreError> {
    let (seq, hash): (i64, String) =
        conn.query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    Ok((seq > 0).then_some((seq as u64, hash)))
}

pub(super) fn audit_head(conn: &Connection) -> Result<Option<Record>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {RECORD_COLUMNS} FROM audit_log ORDER BY seq DESC LIMIT 1"),
            [],
            record,
        )
        .optional()?)
}

pub(super) fn retire_audit(
    conn: &mut Connection,
    before_ms: i64,
    limit: usize,
    mut note: Entry,
    alg: HashAlg,
) -> Result<Option<Record>, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // The oldest records, while they are old enough: only a prefix of the chain is deleted.
    let oldest: Vec<(i64, i64, String)> = {
        let mut stmt =
            tx.prepare_cached("SELECT seq, at_ms, hash FROM audit_log ORDER BY seq LIMIT ?1")?;
        let rows = stmt.query_map(params![limit.max(1) as i64], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
        rows.collect::<Result<_, _>>()?
    };
    let old: Vec<_> = oldest
        .into_iter()
        .take_while(|(_, at, _)| *at < before_ms)
        .collect();
    let Some((through_seq, _, through_hash)) = old.last().cloned() else {
        return Ok(None);
    };
    tx.execute(
        "DELETE FROM audit_log WHERE seq <= ?1",
        params![through_seq],
    )?;
    note.details = RetentionDetails {
        deleted: old.len() as u64,
        through_seq: through_seq as u64,
        through_hash,
        before_ms,
    }
    .to_json();
    let head = head(&tx)?;
    let r = chain::link(head.as_ref().map(|(s, h)| (*s, h.as_str())), note, alg);
    insert(&tx, &r)?;
    tx.commit()?;
    Ok(Some(r))
}

pub(super) fn revocations(conn: &Connection) -> Result<Vec<Revocation>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT agent_id, revoked_ms, actor, reason, reinstated_ms FROM revocations ORDER BY agent_id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(Revocation {
            agent_id: r.get(0)?,
            revoked_ms: r.get(1)?,
            actor: r.get(2)?,
            reason: r.get(3)?,
            reinstated_ms: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

pub(super) fn set_revocation(
    conn: &Connection,
    agent_id: &str,
    change: &RevocationChange,
) -> Result<bool, StoreError> {
    let changed = match change {
        RevocationChange::Revoke(r) => conn.execute(
            "INSERT INTO revocations (agent_id, revoked_ms, actor, reason) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (agent_id) DO UPDATE SET revoked_ms = ?2, actor = ?3, reason = ?4,
                reinstated_ms = NULL
             WHERE revocations.reinstated_ms IS NOT NULL",
            params![agent_id, r.revoked_ms, r.actor, r.reason],
        )?,
        RevocationChange::Reinstate { at_ms } => conn.execute(
            "UPDATE revocations SET reinstated_ms = ?2 WHERE agent_id = ?1 AND reinstated_ms IS NULL",
            params![agent_id, at_ms],
        )?,
    };
    Ok(changed == 1)
}

pub(super) fn add_tokens(
    conn: &mut Connection,
    tokens: &[EnrollmentToken],
) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for t in tokens {
        tx.execute(
            "INSERT INTO enrollment_tokens (token_hash, agent_id, created_ms, expires_ms)
             VALUES (?1, ?2, ?3, ?4)",
            params![t.token_hash, t.agent_id, t.created_ms, t.expires_ms],
        )?;
    }
    tx.commit()?;
    Ok(())
}

pub(super) fn redeem_token(
    conn: &Connection,
    token_hash: &str,
    agent_id: &str,
    now_ms: i64,
    by: &str,
) -> Result<Redeemed, StoreError> {
    let spent = conn.execute(
        "UPDATE enrollment_tokens SET used_ms = ?3, used_by = ?4
         WHERE token_hash = ?1 AND agent_id = ?2 AND used_ms IS NULL AND expires_ms > ?3",
        params![token_hash, agent_id, now_ms, by],
    )?;
    if spent == 1 {
        return Ok(Redeemed::Accepted);
    }
    let found = conn
        .query_row(
            "SELECT agent_id, expires_ms, used_ms, used_by FROM enrollment_tokens WHERE token_hash = ?1",
            params![token_hash],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    Ok(refusal(found, agent_id))
}
