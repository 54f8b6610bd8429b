//! Late corrections of a closed month: the figures that data received after closing would
//! change. The frozen figures stay what was signed; these are shown beside them.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::month::export::Lang;
use crate::month::sla::model::{AdjustmentRow, Figures, GroupRow, MonthReport};

/// One figure of one item that differs between the frozen and the current computation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Correction {
    /// `host`, `link`, `department`, `business_system`, `data_center` or `backbone`.
    pub kind: &'static str,
    /// Agent id, link id, group code, or `level/domain`.
    pub id: String,
    /// The figure: `availability`, `coverage`, `up_minutes`, ... (`item` when the item
    /// itself is new or gone).
    pub field: &'static str,
    /// As frozen (`None`: not defined, or the item did not exist).
    pub frozen: Option<f64>,
    /// As computed now.
    pub current: Option<f64>,
}

fn figure_fields(f: &Figures) -> [(&'static str, Option<f64>); 10] {
    [
        ("availability", f.availability),
        ("coverage", f.coverage),
        ("up_minutes", Some(f.minutes.up)),
        ("degraded_minutes", Some(f.minutes.degraded)),
        ("down_minutes", Some(f.minutes.down)),
        ("maintenance_minutes", Some(f.minutes.maintenance)),
        ("unknown_minutes", Some(f.minutes.unknown)),
        ("faults", Some(f64::from(f.faults))),
        ("fault_minutes", Some(f.fault_minutes)),
        ("longest_outage_minutes", Some(f.longest_outage_minutes)),
    ]
}

/// Ratios that differ by less than this are equal (they are recomputed from the same
/// minutes; only summation order could differ).
const EPSILON: f64 = 1e-12;

fn differs(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() > EPSILON,
        (None, None) => false,
        _ => true,
    }
}

fn compare<'a>(
    kind: &'static str,
    frozen: impl Iterator<Item = (&'a str, &'a Figures)>,
    current: impl Iterator<Item = (&'a str, &'a Figures)>,
    out: &mut Vec<Correction>,
) {
    let frozen: std::collections::BTreeMap<&str, &Figures> = frozen.collect();
    let current: std::collections::BTreeMap<&str, &Figures> = current.collect();
    let ids: std::collections::BTreeSet<&str> =
        frozen.keys().chain(current.keys()).copied().collect();
    for id in ids {
        match (frozen.get(id), current.get(id)) {
            (Some(f), Some(c)) => {
                for ((field, a), (_, b)) in figure_fields(f).into_iter().zip(figure_fields(c)) {
                    if differs(a, b) {
                        out.push(Correction {
                            kind,
                            id: id.to_owned(),
                            field,
                            frozen: a,
                            current: b,
                        });
                    }
                }
            }
            (f, c) => out.push(Correction {
                kind,
                id: id.to_owned(),
                field: "item",
                frozen: f.map(|_| 1.0),
                current: c.map(|_| 1.0),
            }),
        }
    }
}

fn groups(rows: &[GroupRow]) -> impl Iterator<Item = (&str, &Figures)> {
    rows.iter().map(|g| (g.code.as_str(), &g.figures))
}

/// Every figure of `current` that differs from `frozen`, by kind, id and field.
pub fn corrections(frozen: &MonthReport, current: &MonthReport) -> Vec<Correction> {
    let mut out = Vec::new();
    compare(
        "host",
        frozen
            .hosts
            .iter()
            .map(|h| (h.agent_id.as_str(), &h.figures)),
        current
            .hosts
            .iter()
            .map(|h| (h.agent_id.as_str(), &h.figures)),
        &mut out,
    );
    compare(
        "link",
        frozen
            .links
            .iter()
            .map(|l| (l.link_id.as_str(), &l.figures)),
        current
            .links
            .iter()
            .map(|l| (l.link_id.as_str(), &l.figures)),
        &mut out,
    );
    compare(
        "department",
        groups(&frozen.departments),
        groups(&current.departments),
        &mut out,
    );
    compare(
        "business_system",
        groups(&frozen.business_systems),
        groups(&current.business_systems),
        &mut out,
    );
    compare(
        "data_center",
        groups(&frozen.data_centers),
        groups(&current.data_centers),
        &mut out,
    );
    let backbone = |r: &MonthReport| -> Vec<(String, Figures)> {
        r.backbone
            .iter()
            .map(|b| (format!("{}/{}", b.level, b.domain), b.figures.clone()))
            .collect()
    };
    let (fb, cb) = (backbone(frozen), backbone(current));
    compare(
        "backbone",
        fb.iter().map(|(k, f)| (k.as_str(), f)),
        cb.iter().map(|(k, f)| (k.as_str(), f)),
        &mut out,
    );
    out
}

/// Writes the corrections, and the SLA adjustments made or withdrawn since closing that
/// cause some of them, as `zerofault-YYYY-MM-<lang>-late-corrections.json` in `out`.
pub fn write(
    late: &[Correction],
    adjustments: &[AdjustmentRow],
    month: &str,
    lang: Lang,
    out: &Path,
) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(out)?;
    let path = out.join(format!(
        "zerofault-{month}-{}-late-corrections.json",
        lang.tag()
    ));
    let tmp = path.with_extension("json.tmp");
    let body = serde_json::to_vec_pretty(&serde_json::json!({
        "month": month,
        "note": "figures that data received after the month was closed would change; the frozen figures stand",
        "corrections": late,
        "adjustments": adjustments,
    }))
    .map_err(std::io::Error::other)?;
    std::fs::write(&tmp, body)?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::month::sla::model::{HostRow, MODEL_VERSION};

    fn host(id: &str, up: f64, down: f64) -> HostRow {
        let mut figures = Figures::default();
        figures.minutes.up = up;
        figures.minutes.down = down;
        figures.availability = Some(up / (up + down));
        HostRow {
            agent_id: id.into(),
            hostname: id.into(),
            department: String::new(),
            business_system: String::new(),
            data_center: String::new(),
            site: String::new(),
            figures,
            suppressed_by: Vec::new(),
        }
    }

    fn report(hosts: Vec<HostRow>) -> MonthReport {
        MonthReport {
            model_version: MODEL_VERSION,
            month: "2026-02".into(),
            time_zone: "Asia/Shanghai".into(),
            start_unix_ms: 0,
            end_unix_ms: 1,
            slot_seconds: 60,
            fault_min_seconds: 60,
            generated_unix_ms: 0,
            lang: "en".into(),
            closed: true,
            month_to_date: false,
            as_of_unix_ms: None,
            organisation: String::new(),
            seal: None,
            collector_gaps: vec![],
            hosts,
            links: vec![],
            business_systems: vec![],
            departments: vec![],
            data_centers: vec![],
            backbone: vec![],
            incidents: vec![],
            capacity: vec![],
            unknown_labels: vec![],
            adjustments: vec![],
        }
    }

    #[test]
    fn unchanged_figures_are_no_correction_and_changed_ones_are_listed() {
        let frozen = report(vec![host("a", 100.0, 0.0), host("b", 90.0, 10.0)]);
        assert!(corrections(&frozen, &frozen.clone()).is_empty());
        // Backfill turned 10 down minutes of b into up, and a new host c appeared.
        let current = report(vec![
            host("a", 100.0, 0.0),
            host("b", 100.0, 0.0),
            host("c", 5.0, 0.0),
        ]);
        let late = corrections(&frozen, &current);
        let fields: Vec<(&str, &str, &str)> = late
            .iter()
            .map(|c| (c.kind, c.id.as_str(), c.field))
            .collect();
        assert_eq!(
            fields,
            vec![
                ("host", "b", "availability"),
                ("host", "b", "up_minutes"),
                ("host", "b", "down_minutes"),
                ("host", "c", "item"),
            ]
        );
        assert_eq!(late[0].frozen, Some(0.9));
        assert_eq!(late[0].current, Some(1.0));
        assert_eq!((late[3].frozen, late[3].current), (None, Some(1.0)));
    }
}
