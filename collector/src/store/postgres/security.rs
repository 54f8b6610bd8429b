//! The security tables (`store::security`) on PostgreSQL. Several collectors append to one
//! audit chain: the transaction that appends locks the head row (`FOR UPDATE`), so appends
//! take turns and each reads the head the previous one wrote. Plain SQL, no advisory locks,
//! as the leases (`shared.rs`).

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use crate::audit::chain::{self, Entry, HashAlg, Record, RetentionDetails};
use crate::store::api::StoreError;
use crate::store::security::{
    EnrollmentToken, MAX_AUDIT_PAGE, Redeemed, Revocation, RevocationChange, refusal,
};

const RECORD_COLUMNS: &str =
    "seq, at_ms, instance, actor, source, event, outcome, details, alg, prev, hash";

fn record(row: &Row) -> Record {
    let alg: String = row.get(8);
    Record {
        seq: row.get::<_, i64>(0) as u64,
        entry: Entry {
            at_ms: row.get(1),
            instance: row.get(2),
            actor: row.get(3),
            source: row.get(4),
            event: row.get(5),
            outcome: row.get(6),
            details: row.get(7),
        },
        // An unknown name reads as SHA-256, whose hash then does not match: verify names
        // the record.
        alg: HashAlg::parse(&alg).unwrap_or_default(),
        prev: row.get(9),
        hash: row.get(10),
    }
}

pub(super) async fn head(tx: &impl GenericClient) -> Result<Option<(u64, String)>, StoreError> {
    let row = tx
        .query_one(
            "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE",
            &[],
        )
        .await?;
    let seq: i64 = row.get(0);
    Ok((seq > 0).then(|| (seq as u64, row.get(1))))
}

pub(super) async fn insert(tx: &impl GenericClient, r: &Record) -> Result<(), StoreError> {
    let seq = r.seq as i64;
    tx.execute(
        "INSERT INTO audit_log (seq, at_ms, instance, actor, source, event, outcome, details, alg, prev, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        &[
            &seq,
            &r.entry.at_ms,
            &r.entry.instance,
            &r.entry.actor,
            &r.entry.source,
            &r.entry.event,
            &r.entry.outcome,
            &r.entry.details,
            &r.alg.as_str(),
            &r.prev,
            &r.hash,
        ],
    )
    .await?;
    tx.execute(
        "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1",
        &[&seq, &r.hash],
    )
    .await?;
    Ok(())
}

pub(super) async fn append_audit(
    client: &mut deadpool_postgres::Client,
    entries: Vec<Entry>,
    alg: HashAlg,
) -> Result<Vec<Record>, StoreError> {
    let tx = client.transaction().await?;
    let mut head = head(&tx).await?;
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let r = chain::link(head.as_ref().map(|(s, h)| (*s, h.as_str())), entry, alg);
        insert(&tx, &r).await?;
        head = Some((r.seq, r.hash.clone()));
        out.push(r);
    }
    tx.commit().await?;
    Ok(out)
}

pub(super) async fn audit_page(
    c: &impl GenericClient,
    after_seq: u64,
    limit: usize,
) -> Result<Vec<Record>, StoreError> {
    let limit = limit.clamp(1, MAX_AUDIT_PAGE) as i64;
    let rows = c
        .query(
            &format!("SELECT {RECORD_COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2"),
            &[&(after_seq as i64), &limit],
        )
        .await?;
    Ok(rows.iter().map(record).collect())
}

pub(super) async fn audit_head_row(
    c: &impl GenericClient,
) -> Result<Option<(u64, String)>, StoreError> {
    let row = c
        .query_one("SELECT seq, hash FROM audit_head WHERE id = 1", &[])
        .await?;
    let seq: i64 = row.get(0);
    Ok((seq > 0).then(|| (seq as u64, row.get(1))))
}

pub(super) async fn audit_head(c: &impl GenericClient) -> Result<Option<Record>, StoreError> {
    let row = c
        .query_opt(
            &format!("SELECT {RECORD_COLUMNS} FROM audit_log ORDER BY seq DESC LIMIT 1"),
            &[],
        )
        .await?;
    Ok(row.as_ref().map(record))
}

pub(super) async fn retire_audit(
    client: &mut deadpool_postgres::Client,
    before_ms: i64,
    limit: usize,
    mut note: Entry,
    alg: HashAlg,
) -> Result<Option<Record>, StoreError> {
    let tx = client.transaction().await?;
    // The head's lock first: a retention pass and an append take turns.
    let head_now = head(&tx).await?;
    let rows = tx
        .query(
            "SELECT seq, at_ms, hash FROM audit_log ORDER BY seq LIMIT $1",
            &[&(limit.max(1) as i64)],
        )
        .await?;
    let old: Vec<(i64, String)> = rows
        .iter()
        .take_while(|r| r.get::<_, i64>(1) < before_ms)
        .map(|r| (r.get(0), r.get(2)))
        .collect();
    let Some((through_seq, through_hash)) = old.last().cloned() else {
        return Ok(None);
    };
    tx.execute("DELETE FROM audit_log WHERE seq <= $1", &[&through_seq])
        .await?;
    note.details = RetentionDetails {
        deleted: old.len() as u64,
        through_seq: through_seq as u64,
        through_hash,
        before_ms,
    }
    .to_json();
    let r = chain::link(head_now.as_ref().map(|(s, h)| (*s, h.as_str())), note, alg);
    insert(&tx, &r).await?;
    tx.commit().await?;
    Ok(Some(r))
}

pub(super) async fn revocations(c: &impl GenericClient) -> Result<Vec<Revocation>, StoreError> {
    let rows = c
        .query(
            "SELECT agent_id, revoked_ms, actor, reason, reinstated_ms FROM revocations ORDER BY agent_id",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Revocation {
            agent_id: r.get(0),
            revoked_ms: r.get(1),
            actor: r.get(2),
            reason: r.get(3),
            reinstated_ms: r.get(4),
        })
        .collect())
}

pub(super) async fn set_revocation(
    c: &impl GenericClient,
    agent_id: &str,
    change: &RevocationChange,
) -> Result<bool, StoreError> {
    let changed = match change {
        RevocationChange::Revoke(r) => {
            c.execute(
                "INSERT INTO revocations (agent_id, revoked_ms, actor, reason) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (agent_id) DO UPDATE SET revoked_ms = $2, actor = $3, reason = $4,
                    reinstated_ms = NULL
                 WHERE revocations.reinstated_ms IS NOT NULL",
                &[&agent_id, &r.revoked_ms, &r.actor, &r.reason],
            )
            .await?
        }
        RevocationChange::Reinstate { at_ms } => {
            c.execute(
                "UPDATE revocations SET reinstated_ms = $2 WHERE agent_id = $1 AND reinstated_ms IS NULL",
                &[&agent_id, at_ms],
            )
            .await?
        }
    };
    Ok(changed == 1)
}

pub(super) async fn add_tokens(
    client: &mut deadpool_postgres::Client,
    tokens: &[EnrollmentToken],
) -> Result<(), StoreError> {
    let tx = client.transaction().await?;
    for t in tokens {
        tx.execute(
            "INSERT INTO enrollment_tokens (token_hash, agent_id, created_ms, expires_ms)
             VALUES ($1, $2, $3, $4)",
            &[&t.token_hash, &t.agent_id, &t.created_ms, &t.expires_ms],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(super) async fn redeem_token(
    c: &impl GenericClient,
    token_hash: &str,
    agent_id: &str,
    now_ms: i64,
    by: &str,
) -> Result<Redeemed, StoreError> {
    let spent = c
        .execute(
            "UPDATE enrollment_tokens SET used_ms = $3, used_by = $4
             WHERE token_hash = $1 AND agent_id = $2 AND used_ms IS NULL AND expires_ms > $3",
            &[&token_hash, &agent_id, &now_ms, &by],
        )
        .await?;
    if spent == 1 {
        return Ok(Redeemed::Accepted);
    }
    let found = c
        .query_opt(
            "SELECT agent_id, expires_ms, used_ms, used_by FROM enrollment_tokens WHERE token_hash = $1",
            &[&token_hash],
        )
        .await?
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)));
    Ok(refusal(found, agent_id))
}
