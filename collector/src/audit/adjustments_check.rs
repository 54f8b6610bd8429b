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

#[cfg(test)]
mod tests;
