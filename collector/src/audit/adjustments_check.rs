//! What `audit verify` compares between an SLA adjustment row and its audit records: pure,
//! on the record and the row as read. The details are those `events::sla_adjusted` and
//! `events::sla_withdrawn` write.

use serde_json::Value;

use super::chain::Record;
use crate::store::adjustments::{Adjustment, Withdrawal};

fn details(r: &Record) -> Result<Value, String> {
    serde_json::from_str(&r.entry.details)
        .map_err(|_| format!("its record {} has details that are not JSON", r.seq))
}

/// The row against its `sla.adjust` record (`None`: there is none with its id).
pub fn made(a: &Adjustment, record: Option<&Record>) -> Result<(), String> {
    let r = record.ok_or("no audit record has its id: it was added to the database by hand")?;
    if r.entry.event != "sla.adjust" {
        return Err(format!(
            "its id is record {} of event {:?}, not sla.adjust: it was added to the database by hand",
            r.seq, r.entry.event
        ));
    }
    let d = details(r)?;
    let w = &a.what;
    let fields = [
        ("scope", d["scope"].as_str() == Some(w.kind.as_str())),
        ("code", d["code"].as_str() == Some(w.code.as_str())),
        ("start", d["start_ms"].as_i64() == Some(w.start_ms)),
        ("end", d["end_ms"].as_i64() == Some(w.end_ms)),
        ("reason", d["reason"].as_str() == Some(w.reason.as_str())),
        ("actor", r.entry.actor == a.actor),
        ("time", r.entry.at_ms == a.created_ms),
    ];
    match fields.iter().find(|(_, same)| !same) {
        Some((field, _)) => Err(format!(
            "its {field} differs from its audit record {}: the row was changed",
            r.seq
        )),
        None => Ok(()),
    }
}

/// A withdrawal against its `sla.withdraw` record.
pub fn withdrawn(id: u64, w: &Withdrawal, record: Option<&Record>) -> Result<(), String> {
    let r = record.ok_or(format!(
        "its withdrawal names record {}, which does not exist: it was withdrawn by hand",
        w.seq
    ))?;
    let d = details(r)?;
    let same = r.entry.event == "sla.withdraw"
        && d["adjustment"].as_u64() == Some(id)
        && d["reason"].as_str() == Some(w.reason.as_str())
        && r.entry.actor == w.actor
        && r.entry.at_ms == w.at_ms;
    if same {
        Ok(())
    } else {
        Err(format!(
            "its withdrawal differs from record {}: it was withdrawn or changed by hand",
            r.seq
        ))
    }
}

/// The SLA records of the chain, kept while it is verified (the walk reads every record
/// once; nothing is read again): the `sla.adjust` records by seq and the `sla.withdraw`
/// records by the adjustment they withdrew, so that the rows are checked against them both
/// ways (a row deleted or un-withdrawn by hand shows too). Memory: at most two records per
/// adjustment, which operators make by hand.
#[derive(Debug, Default)]
pub struct SlaRecords {
    /// Seq and time of the first record read (retention deleted what was before it).
    first: Option<(u64, i64)>,
    made: std::collections::BTreeMap<u64, Record>,
    /// Adjustment id -> its withdrawal record.
    withdrawn: std::collections::BTreeMap<u64, Record>,
}

impl SlaRecords {
    /// Notes `r`, read in chain order.
    pub fn push(&mut self, r: &Record) {
        self.first.get_or_insert((r.seq, r.entry.at_ms));
        match r.entry.event.as_str() {
            "sla.adjust" => {
                self.made.insert(r.seq, r.clone());
            }
            "sla.withdraw" => {
                if let Ok(d) = serde_json::from_str::<Value>(&r.entry.details)
                    && let Some(id) = d["adjustment"].as_u64()
                {
                    self.withdrawn.insert(id, r.clone());
                }
            }
            _ => {}
        }
    }

    /// Whether the record `seq` was deleted by retention (before the first kept record).
    pub fn retired(&self, seq: u64) -> bool {
        self.first.is_some_and(|(first, _)| seq < first)
    }

    /// The rows against the records, both ways: every row has its record (or is older
    /// than the chain's kept start) and says what it says ([`made`], [`withdrawn`]), every
    /// `sla.adjust` record has its row, every withdrawal record a row withdrawn by it, every
    /// withdrawn row its record. Returns how many rows were compared with their record
    /// (those older than the kept chain cannot be); `Err((id, why))`.
    pub fn check_rows(&self, rows: &[Adjustment]) -> Result<u64, (u64, String)> {
        let mut compared = 0;
        let by_id: std::collections::BTreeMap<u64, &Adjustment> =
            rows.iter().map(|a| (a.id, a)).collect();
        for a in rows {
            if a.id == 0 {
                return Err((
                    a.id,
                    "id 0 is no audit record: it was added to the database by hand".into(),
                ));
            }
            if self.retired(a.id) {
                // Its record was deleted by retention: only a row made before what is kept.
                let first_at = self.first.map_or(i64::MIN, |(_, at)| at);
                if a.created_ms >= first_at {
                    return Err((a.id, "it says it was made after the oldest record kept, yet its record is not in the log: it was added to the database by hand".into()));
                }
            } else {
                made(a, self.made.get(&a.id)).map_err(|why| (a.id, why))?;
                compared += 1;
            }
            let withdrawal = self.withdrawn.get(&a.id).map(|r| r.seq);
            match (&a.withdrawn, withdrawal) {
                (Some(w), _) if w.seq <= a.id => {
                    return Err((
                        a.id,
                        format!(
                            "its withdrawal names record {}, before the adjustment itself: it was withdrawn by hand",
                            w.seq
                        ),
                    ));
                }
                (Some(w), None) if !self.retired(w.seq) => {
                    return Err((
                        a.id,
                        format!(
                            "its withdrawal names record {}, which is no sla.withdraw record of it: it was withdrawn by hand",
                            w.seq
                        ),
                    ));
                }
                (Some(w), Some(seq)) if w.seq != seq => {
                    return Err((
                        a.id,
                        format!(
                            "its withdrawal names record {}, but record {seq} withdrew it: it was changed by hand",
                            w.seq
                        ),
                    ));
                }
                (None, Some(seq)) => {
                    return Err((
                        a.id,
                        format!(
                            "record {seq} withdrew it, yet it is in force: its withdrawal was undone by hand"
                        ),
                    ));
                }
                (Some(w), Some(_)) => {
                    withdrawn(a.id, w, self.withdrawn.get(&a.id)).map_err(|why| (a.id, why))?;
                }
                _ => {}
            }
        }
        if let Some(seq) = self.made.keys().find(|s| !by_id.contains_key(s)) {
            return Err((
                *seq,
                format!(
                    "its sla.adjust record {seq} has no row: the adjustment was deleted by hand"
                ),
            ));
        }
        if let Some((id, seq)) = self
            .withdrawn
            .iter()
            .map(|(id, r)| (id, r.seq))
            .find(|(id, _)| !by_id.contains_key(id))
        {
            return Err((
                *id,
                format!(
                    "record {seq} withdrew it, but it has no row: the adjustment was deleted by hand"
                ),
            ));
        }
        Ok(compared)
    }
}

#[cfg(test)]
mod tests;
