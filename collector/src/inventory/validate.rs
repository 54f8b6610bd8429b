//! Checks of a parsed inventory that need the whole document. Each problem names the key path
//! (`links[2].to`) and says how to fix it; all problems are collected, not only the first.

use std::collections::HashMap;
use std::time::Duration;

use zerofault_common::duration::format_duration;

use super::model::{DEFAULT_SLOT, Inventory, MAX_CODE_BYTES, MIN_SLOT, Problem, Scope};
use super::time::MonthDay;

const DAY: Duration = Duration::from_secs(86_400);
const WEEK: Duration = Duration::from_secs(7 * 86_400);
/// The shortest month: a monthly window must end before the next one can start.
const SHORTEST_MONTH: Duration = Duration::from_secs(28 * 86_400);

pub(super) fn problems(inv: &Inventory) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut problem = |key: String, message: String| {
        out.push(Problem {
            file: inv.source.clone(),
            key,
            message,
        })
    };
    calendar(inv, &mut problem);
    organisation(inv, &mut problem);
    targets(inv, &mut problem);
    codes(inv, &mut problem);
    references(inv, &mut problem);
    topology(inv, &mut problem);
    maintenance(inv, &mut problem);
    out
}

type Report<'a> = dyn FnMut(String, String) + 'a;

/// Both names are given, fit one line of a first page, and hold no control characters (a
/// line break would split the title).
fn organisation(inv: &Inventory, problem: &mut Report<'_>) {
    let Some(org) = &inv.organisation else {
        return;
    };
    for (key, value) in [("name_zh", &org.name_zh), ("name_en", &org.name_en)] {
        let key = format!("organisation.{key}");
        let n = value.chars().count();
        if value.trim().is_empty() {
            problem(
                key,
                "is empty; the report's first page names the organisation, give its name".into(),
            );
        } else if value.chars().any(char::is_control) {
            problem(
                key,
                "holds a control character (line break, tab); write the name on one line".into(),
            );
        } else if n > super::model::MAX_ORGANISATION_CHARS {
            problem(
                key,
                format!(
                    "is {n} characters long; use at most {} (one line of the first page)",
                    super::model::MAX_ORGANISATION_CHARS
                ),
            );
        }
    }
}

fn calendar(inv: &Inventory, problem: &mut Report<'_>) {
    let slot_ms = inv.slot.as_millis();
    let mut slot_ok = false;
    if inv.slot < MIN_SLOT {
        problem(
            "slot".into(),
            format!(
                "{} is shorter than {}; use e.g. {}",
                format_duration(inv.slot),
                format_duration(MIN_SLOT),
                format_duration(DEFAULT_SLOT)
            ),
        );
    } else if !DAY.as_millis().is_multiple_of(slot_ms) {
        problem(
            "slot".into(),
            format!(
                "{} does not divide a day, so slots would not start at midnight; use e.g. 30s, 60s, 5m or 15m",
                format_duration(inv.slot)
            ),
        );
    } else {
        slot_ok = true;
    }
    if inv.fault_min.is_zero() {
        problem(
            "fault_min".into(),
            format!(
                "0s would make every down slot a fault; use a multiple of slot ({})",
                format_duration(inv.slot)
            ),
        );
    } else if slot_ok && !inv.fault_min.as_millis().is_multiple_of(slot_ms) {
        problem(
            "fault_min".into(),
            format!(
                "{} is not a whole number of slots ({}); faults are counted in slots, use e.g. {}",
                format_duration(inv.fault_min),
                format_duration(inv.slot),
                format_duration(inv.slot * (inv.fault_min.as_millis().div_ceil(slot_ms) as u32))
            ),
        );
    }
}

fn check_target(key: String, v: f64, problem: &mut Report<'_>) {
    if !(v > 0.0 && v <= 1.0) {
        problem(
            key,
            format!("{v} is outside (0, 1]; a target is a ratio, e.g. 0.999 for 99.9%"),
        );
    }
}

fn targets(inv: &Inventory, problem: &mut Report<'_>) {
    check_target("targets.host".into(), inv.targets.host, problem);
    let l = &inv.targets.link;
    for (level, v) in [
        ("province-city", l.province_city),
        ("city-county", l.city_county),
        ("county-township", l.county_township),
        ("access", l.access),
    ] {
        check_target(format!("targets.link.{level}"), v, problem);
    }
    for (i, d) in inv.departments.iter().enumerate() {
        if let Some(t) = d.target {
            check_target(format!("departments[{i}].target"), t, problem);
        }
    }
    for (i, b) in inv.business_systems.iter().enumerate() {
        if let Some(t) = b.target {
            check_target(format!("business_systems[{i}].target"), t, problem);
        }
    }
    for (i, l) in inv.links.iter().enumerate() {
        if let Some(t) = l.target {
            check_target(format!("links[{i}].target"), t, problem);
        }
    }
}

/// Syntax and uniqueness of the codes of one list, and presence of the names.
fn unique<'a>(
    list: &str,
    field: &str,
    items: impl Iterator<Item = (&'a str, [&'a str; 2])>,
    names_required: bool,
    problem: &mut Report<'_>,
) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, (code, names)) in items.enumerate() {
        let key = format!("{list}[{i}].{field}");
        if code.is_empty() {
            problem(
                key,
                "is empty; give a code, as the agents' labels use it".into(),
            );
        } else if code.trim() != code {
            problem(key, format!("{code:?} has surrounding spaces; remove them"));
        } else if code.len() > MAX_CODE_BYTES {
            problem(
                key,
                format!("is {} bytes long; use at most {MAX_CODE_BYTES}", code.len()),
            );
        } else if let Some(first) = seen.get(code) {
            problem(
                key,
                format!("{code:?} is also {list}[{first}]; each {field} must be unique"),
            );
        } else {
            seen.insert(code, i);
        }
        if names_required {
            for (name, value) in ["name_zh", "name_en"].iter().zip(names) {
                if value.trim().is_empty() {
                    problem(
                        format!("{list}[{i}].{name}"),
                        "is empty; reports show it, give the name".into(),
                    );
                }
            }
        }
    }
}

fn codes(inv: &Inventory, problem: &mut Report<'_>) {
    unique(
        "departments",
        "code",
        inv.departments
            .iter()
            .map(|d| (d.code.as_str(), [d.name_zh.as_str(), d.name_en.as_str()])),
        true,
        problem,
    );
    unique(
        "business_systems",
        "code",
        inv.business_systems
            .iter()
            .map(|d| (d.code.as_str(), [d.name_zh.as_str(), d.name_en.as_str()])),
        true,
        problem,
    );
    unique(
        "data_centers",
        "code",
        inv.data_centers
            .iter()
            .map(|d| (d.code.as_str(), [d.name_zh.as_str(), d.name_en.as_str()])),
        true,
        problem,
    );
    unique(
        "sites",
        "code",
        inv.sites
            .iter()
            .map(|d| (d.code.as_str(), [d.name_zh.as_str(), d.name_en.as_str()])),
        true,
        problem,
    );
    unique(
        "links",
        "id",
        inv.links
            .iter()
            .map(|d| (d.id.as_str(), [d.name_zh.as_str(), d.name_en.as_str()])),
        false,
        problem,
    );
}

fn references(inv: &Inventory, problem: &mut Report<'_>) {
    for (i, b) in inv.business_systems.iter().enumerate() {
        if inv.department(&b.department).is_none() {
            problem(
                format!("business_systems[{i}].department"),
                format!(
                    "{:?} is not a code in `departments`; add the department or fix the code",
                    b.department
                ),
            );
        }
    }
    for (i, s) in inv.sites.iter().enumerate() {
        if let Some(p) = &s.parent
            && inv.site(p).is_none()
        {
            problem(
                format!("sites[{i}].parent"),
                format!("{p:?} is not a code in `sites`; add that site or fix the code"),
            );
        }
    }
}

fn topology(inv: &Inventory, problem: &mut Report<'_>) {
    // Parent cycles: follow each site's chain; more steps than sites means a loop.
    for (i, s) in inv.sites.iter().enumerate() {
        let mut chain = vec![s.code.as_str()];
        let mut current = s;
        while let Some(parent) = current.parent.as_deref().and_then(|p| inv.site(p)) {
            chain.push(&parent.code);
            if parent.code == s.code {
                problem(
                    format!("sites[{i}].parent"),
                    format!(
                        "the parent chain {} loops; a chain must end at a site without parent",
                        chain.join(" -> ")
                    ),
                );
                break;
            }
            if chain.len() > inv.sites.len() {
                // A loop further up, reported at the sites on it.
                break;
            }
            current = parent;
        }
    }
    for (i, l) in inv.links.iter().enumerate() {
        let from = inv.site(&l.from);
        let to = inv.site(&l.to);
        for (end, code, site) in [("from", &l.from, from), ("to", &l.to, to)] {
            if site.is_none() {
                problem(
                    format!("links[{i}].{end}"),
                    format!(
                        "{code:?} (link {:?}) is not a code in `sites`; add the site or fix the code",
                        l.id
                    ),
                );
            }
        }
        let (Some(from), Some(to)) = (from, to) else {
            continue;
        };
        if from.code == to.code {
            problem(
                format!("links[{i}].to"),
                format!(
                    "link {:?} joins site {:?} to itself; `to` is the far end",
                    l.id, to.code
                ),
            );
            continue;
        }
        if let Some((near, far)) = l.level.end_levels() {
            for (end, site, want) in [("from", from, near), ("to", to, far)] {
                if site.level != want {
                    problem(
                        format!("links[{i}].{end}"),
                        format!(
                            "a {} link's `{end}` must be a {} site, but {:?} is a {} site; fix the level or the end",
                            l.level.as_str(),
                            want.as_str(),
                            site.code,
                            site.level.as_str()
                        ),
                    );
                }
            }
        }
        if to.parent.as_deref() != Some(from.code.as_str()) {
            let hint = if from.parent.as_deref() == Some(to.code.as_str()) {
                "; the ends look swapped: `from` is the end towards the core".to_owned()
            } else {
                format!(
                    "; set that site's parent to {:?} or fix the link's ends",
                    from.code
                )
            };
            problem(
                format!("links[{i}].to"),
                format!(
                    "site {:?} has parent {:?}, not the link's `from` {:?}: root cause follows the site tree, so a link must join a site to its parent{hint}",
                    to.code,
                    to.parent.as_deref().unwrap_or("(none)"),
                    from.code
                ),
            );
        }
    }
}

fn maintenance(inv: &Inventory, problem: &mut Report<'_>) {
    for (i, m) in inv.maintenance.iter().enumerate() {
        let kinds = [m.once.is_some(), m.weekly.is_some(), m.monthly.is_some()]
            .into_iter()
            .filter(|&b| b)
            .count();
        if kinds != 1 {
            problem(
                format!("maintenance[{i}]"),
                format!(
                    "has {kinds} of `once`, `weekly`, `monthly`; give exactly one (one window per entry)"
                ),
            );
        }
        let scope_key = format!("maintenance[{i}].scope.{}", m.scope.kind());
        let value = m.scope.value();
        if !inv.knows(&m.scope) {
            let message = match &m.scope {
                Scope::Host(_) => format!(
                    "{value:?} is not a valid agent id (1..128 of A-Z a-z 0-9 . _ -); use the agent's id"
                ),
                Scope::Link(_) => {
                    format!("{value:?} is not an id in `links`; add the link or fix the id")
                }
                other => format!(
                    "{value:?} is not a code in `{}s`; add it or fix the code",
                    other.kind()
                ),
            };
            problem(scope_key, message);
        }
        let mut check_duration = |kind: &str, d: Duration, period: Option<(Duration, &str)>| {
            let key = format!("maintenance[{i}].{kind}.duration");
            if d.is_zero() {
                problem(key, "is 0s; give the window's length, e.g. 2h".into());
            } else if let Some((period, what)) = period
                && d >= period
            {
                problem(
                    key,
                    format!(
                        "{} is not shorter than {what} ({}), so occurrences would overlap; shorten it",
                        format_duration(d),
                        format_duration(period)
                    ),
                );
            }
        };
        if let Some(o) = &m.once {
            check_duration("once", o.duration, None);
        }
        if let Some(w) = &m.weekly {
            check_duration("weekly", w.duration, Some((WEEK, "a week")));
        }
        if let Some(mo) = &m.monthly {
            check_duration(
                "monthly",
                mo.duration,
                Some((SHORTEST_MONTH, "the shortest month")),
            );
            if let MonthDay::Day(d) = mo.day
                && !(1..=28).contains(&d)
            {
                problem(
                    format!("maintenance[{i}].monthly.day"),
                    format!(
                        "{d} is outside 1..28 (not every month has it); use \"last\" for the last day of each month"
                    ),
                );
            }
        }
    }
}
