//! What the collector stored, read straight from its SQLite database (read-only), so that a
//! test judges completeness from the data and not from the collector's own account of it.

use std::collections::BTreeMap;
use std::path::Path;

use prost::Message;
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use zerofault_protocol::Report;

/// One stored report's identity and times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredRow {
    /// Report sequence number.
    pub sequence: u64,
    /// The agent's wall clock when it made the report, ms since the Unix epoch.
    pub agent_timestamp_ms: i64,
    /// The collector's clock when it stored the report, ms since the Unix epoch.
    pub received_ms: i64,
}

/// The stored reports of one agent and boot, by sequence.
pub type Boot = BTreeMap<u64, StoredRow>;

/// Stored reports: agent id -> boot id -> reports.
#[derive(Debug, Clone, Default)]
pub struct Stored {
    /// Agent id -> boot id -> sequence -> report.
    pub agents: BTreeMap<String, BTreeMap<String, Boot>>,
    /// Rows in the table, and distinct `(agent, boot, sequence)` among them: equal unless a
    /// report is stored twice.
    pub rows: u64,
    /// Distinct identities.
    pub distinct: u64,
}

impl Stored {
    /// Reads every report's identity from the database at `db` (read-only; works while the
    /// collector runs, since the database is in WAL mode).
    pub fn read(db: &Path) -> anyhow::Result<Self> {
        let conn = Connection::open_with_flags(
            db,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // The collector may hold the write lock while we read; wait rather than fail.
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let mut out = Self::default();
        let (rows, distinct): (i64, i64) = conn.query_row(
            "SELECT count(*), (SELECT count(*) FROM \
             (SELECT DISTINCT agent_id, boot_id, sequence FROM reports)) FROM reports",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        out.rows = u64::try_from(rows)?;
        out.distinct = u64::try_from(distinct)?;
        let mut stmt = conn.prepare(
            "SELECT agent_id, boot_id, sequence, agent_timestamp_ms, received_ms FROM reports",
        )?;
        let mut q = stmt.query([])?;
        while let Some(r) = q.next()? {
            let agent: String = r.get(0)?;
            let boot: String = r.get(1)?;
            let sequence = u64::try_from(r.get::<_, i64>(2)?)?;
            out.agents
                .entry(agent)
                .or_default()
                .entry(boot)
                .or_default()
                .insert(
                    sequence,
                    StoredRow {
                        sequence,
                        agent_timestamp_ms: r.get(3)?,
                        received_ms: r.get(4)?,
                    },
                );
        }
        Ok(out)
    }

    /// The one boot of `agent`; an error when it has none or several.
    pub fn only_boot(&self, agent: &str) -> anyhow::Result<&Boot> {
        let boots = self
            .agents
            .get(agent)
            .ok_or_else(|| anyhow::anyhow!("nothing stored for agent {agent}"))?;
        anyhow::ensure!(
            boots.len() == 1,
            "agent {agent} has {} boot ids stored ({:?}); expected one",
            boots.len(),
            boots.keys().collect::<Vec<_>>()
        );
        Ok(boots.values().next().expect("one boot"))
    }
}

/// The stored report of `agent` with the highest sequence number (the collector stores the
/// decompressed protobuf), `None` when it has none. Its `agent_stats` are the agent's newest
/// account of its spool, read without going through the collector's metrics.
pub fn newest_report(db: &Path, agent: &str) -> anyhow::Result<Option<Report>> {
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    let body: Option<Vec<u8>> = conn
        .query_row(
            "SELECT body FROM reports WHERE agent_id = ?1 ORDER BY sequence DESC LIMIT 1",
            [agent],
            |r| r.get(0),
        )
        .optional()?;
    body.map(|b| Report::decode(b.as_slice()).map_err(anyhow::Error::from))
        .transpose()
}

/// The sequence numbers in `first..=last` that are not keys of `boot`.
pub fn missing(boot: &Boot, first: u64, last: u64) -> Vec<u64> {
    (first..=last).filter(|s| !boot.contains_key(s)).collect()
}

/// Missing numbers as ranges, for messages (`[5, 9..=12]` instead of five numbers).
pub fn ranges(numbers: &[u64]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < numbers.len() {
        let start = numbers[i];
        let mut end = start;
        while i + 1 < numbers.len() && numbers[i + 1] == end + 1 {
            i += 1;
            end = numbers[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}..={end}")
        });
        i += 1;
    }
    format!("[{}]", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boot(seqs: &[u64]) -> Boot {
        seqs.iter()
            .map(|&s| {
                (
                    s,
                    StoredRow {
                        sequence: s,
                        agent_timestamp_ms: 0,
                        received_ms: 0,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn missing_numbers_and_their_ranges() {
        let b = boot(&[3, 4, 7, 8, 10]);
        let m = missing(&b, 2, 11);
        assert_eq!(m, vec![2, 5, 6, 9, 11]);
        assert_eq!(ranges(&m), "[2, 5..=6, 9, 11]");
        assert_eq!(ranges(&[]), "[]");
    }

    #[test]
    fn reads_a_database_with_the_collector_schema() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("z.db");
        let conn = Connection::open(&db).unwrap();
        conn.execute_batch(
            "CREATE TABLE reports (agent_id TEXT NOT NULL, boot_id TEXT NOT NULL, \
             sequence INTEGER NOT NULL, agent_timestamp_ms INTEGER NOT NULL, \
             received_ms INTEGER NOT NULL, body BLOB NOT NULL);
             INSERT INTO reports VALUES ('a', 'b1', 1, 10, 11, x'00');
             INSERT INTO reports VALUES ('a', 'b1', 2, 20, 21, x'00');
             INSERT INTO reports VALUES ('a', 'b1', 2, 20, 22, x'00');
             INSERT INTO reports VALUES ('c', 'b2', 5, 50, 51, x'00');",
        )
        .unwrap();
        drop(conn);
        let s = Stored::read(&db).unwrap();
        assert_eq!((s.rows, s.distinct), (4, 3), "the duplicate row is seen");
        assert_eq!(s.only_boot("a").unwrap().len(), 2);
        assert_eq!(s.only_boot("c").unwrap()[&5].received_ms, 51);
        assert!(s.only_boot("x").is_err());
    }
}
