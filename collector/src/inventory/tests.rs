use std::collections::BTreeSet;
use std::time::Duration;

use jiff::tz::TimeZone;

use super::*;

/// Unix ms of a UTC date-time given as literal fields.
fn utc(y: i16, mo: i8, d: i8, h: i8, mi: i8) -> i64 {
    TimeZone::UTC
        .to_timestamp(jiff::civil::date(y, mo, d).at(h, mi, 0, 0))
        .unwrap()
        .as_millisecond()
}

const H: i64 = 3_600_000;

fn parse(text: &str) -> Inventory {
    Inventory::parse(text, Path::new("/x/inv.yaml")).unwrap()
}

fn problems(text: &str) -> Vec<Problem> {
    match parse(text).validate() {
        Ok(()) => Vec::new(),
        Err(InventoryError::Invalid { problems }) => problems,
        Err(e) => panic!("unexpected {e}"),
    }
}

fn keys(text: &str) -> Vec<String> {
    problems(text).into_iter().map(|p| p.key).collect()
}

/// A small valid topology: province P, city C, counties K1 K2, township T under K1, a unit U
/// under T; one link per parent edge.
const TOPO: &str = "\
sites:
  - {code: P, name_zh: 省, name_en: Province, level: province, domain: administrative}
  - {code: C, name_zh: 市, name_en: City, level: city, domain: administrative, parent: P}
  - {code: K1, name_zh: 县一, name_en: County 1, level: county, domain: administrative, parent: C}
  - {code: K2, name_zh: 县二, name_en: County 2, level: county, domain: administrative, parent: C}
  - {code: T, name_zh: 镇, name_en: Town, level: township, domain: administrative, parent: K1}
  - {code: U, name_zh: 单位, name_en: Unit, level: township, domain: administrative, parent: T}
links:
  - {id: pc, from: P, to: C, level: province-city, domain: administrative}
  - {id: ck1, from: C, to: K1, level: city-county, domain: administrative, name_en: C-K1}
  - {id: ck2, from: C, to: K2, level: city-county, domain: administrative, target: 0.98}
  - {id: kt, from: K1, to: T, level: county-township, domain: administrative}
  - {id: tu, from: T, to: U, level: access, domain: administrative}
";

#[test]
fn empty_file_gives_defaults() {
    let inv = parse("{}\n");
    inv.validate().unwrap();
    assert_eq!(inv.time_zone_name(), "Asia/Shanghai");
    assert_eq!(inv.slot, Duration::from_secs(60));
    assert_eq!(inv.fault_min, Duration::from_secs(60));
    assert_eq!(inv.targets, Targets::default());
    assert_eq!(inv.host_target("any", "thing"), 0.999);
    let mut d = Inventory::default();
    assert_eq!(d.time_zone, inv.time_zone);
    assert_eq!(d.targets, inv.targets);
    d.departments.push(Department {
        code: "d".into(),
        name_zh: "部".into(),
        name_en: "D".into(),
        target: Some(0.95),
    });
    assert_eq!(d.host_target("d", ""), 0.999);
    d.reindex();
    assert_eq!(d.host_target("d", ""), 0.95);
}

#[test]
fn shipped_example_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/inventory.yaml");
    let inv = Inventory::load(&path).unwrap();
    if let Err(e) = inv.validate() {
        panic!("{e}");
    }
    assert_eq!(inv.departments.len(), 3);
    assert_eq!(inv.business_systems.len(), 2);
    assert_eq!(inv.data_centers.len(), 2);
    assert!(
        inv.data_centers
            .iter()
            .any(|d| d.status == DataCenterStatus::UnderConstruction)
    );
    for domain in [Domain::Administrative, Domain::Public] {
        let levels: BTreeSet<SiteLevel> = inv
            .sites
            .iter()
            .filter(|s| s.domain == domain)
            .map(|s| s.level)
            .collect();
        assert_eq!(levels.len(), 4, "{domain:?}");
    }
    // Every window kind is shown.
    assert!(inv.maintenance.iter().any(|m| m.once.is_some()));
    assert!(inv.maintenance.iter().any(|m| m.weekly.is_some()));
    assert!(inv.maintenance.iter().any(|m| m.monthly.is_some()));
    // The business system's target beats its department's, which beats the default.
    assert_eq!(inv.host_target("hz-dsj", "zwfw"), 0.9999);
    assert_eq!(inv.host_target("hz-dsj", ""), 0.9995);
    assert_eq!(inv.host_target("hz-gaj", ""), inv.targets.host);
    // October 2026 has the one-off window on 3 October and the weekly Sunday ones.
    let (s, e) = inv.month_bounds("2026-10").unwrap();
    let windows = inv.maintenance_intervals(s, e);
    assert!(
        windows
            .iter()
            .any(|w| w.scope == Scope::Link("adm-hz-dq".into()))
    );
    assert_eq!(
        windows
            .iter()
            .filter(|w| w.scope == Scope::BusinessSystem("zwfw".into()))
            .count(),
        4
    );
}

#[test]
fn unknown_key_names_file_line_and_key() {
    let e = Inventory::parse(
        "targets:\n  host: 0.99\n  hosts: 0.9\n",
        Path::new("/x/inv.yaml"),
    )
    .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.starts_with("/x/inv.yaml:3:3: key 'targets.hosts': unknown key; expected one of"),
        "{msg}"
    );
}

#[test]
fn syntax_errors_are_parse_errors_at_their_line() {
    for (text, line, word) in [
        ("time_zone: Asia/Shangai\n", 1, "IANA"),
        ("slot: 60\n", 1, "no unit"),
        (
            "maintenance:\n  - scope: {link: x}\n    weekly: {weekday: sunday, at: \"02:00\", duration: 1h}\n",
            3,
            "mon, tue",
        ),
        (
            "maintenance:\n  - scope: {link: x}\n    once: {start: \"2026-02-30 02:00\", duration: 1h}\n",
            3,
            "YYYY-MM-DD HH:MM",
        ),
        (
            "maintenance:\n  - scope: {link: x}\n    monthly: {day: first, at: \"02:00\", duration: 1h}\n",
            3,
            "last",
        ),
        (
            "maintenance:\n  - scope: {link: x}\n    monthly: {day: 1, at: \"25:00\", duration: 1h}\n",
            3,
            "HH:MM",
        ),
        (
            "maintenance:\n  - scope: {link: x, site: y}\n    once: {start: \"2026-01-01 00:00\", duration: 1h}\n",
            2,
            "",
        ),
        (
            "maintenance:\n  - scope: {rack: x}\n    once: {start: \"2026-01-01 00:00\", duration: 1h}\n",
            2,
            "rack",
        ),
        (
            "sites:\n  - {code: a, name_zh: a, name_en: a, level: village, domain: public}\n",
            2,
            "village",
        ),
    ] {
        let msg = Inventory::parse(text, Path::new("i.yaml"))
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with(&format!("i.yaml:{line}:")), "{text}: {msg}");
        assert!(msg.contains(word), "{text}: {msg}");
    }
}

#[test]
fn a_bad_value_in_a_flow_mapping_item_names_the_item() {
    let text = "sites:\n  - {code: a, name_zh: a, name_en: a, level: city, domain: public}\n  - {code: b, name_zh: b, name_en: b, level: village, domain: public}\n";
    let msg = Inventory::parse(text, Path::new("i.yaml"))
        .unwrap_err()
        .to_string();
    assert!(msg.starts_with("i.yaml:3:"), "{msg}");
    assert!(msg.contains("key 'sites[1]'"), "{msg}");
}

#[test]
fn unquoted_times_parse_too() {
    let inv = parse(
        "maintenance:\n  - scope: {link: x}\n    weekly: {weekday: mon, at: 02:30, duration: 1h}\n",
    );
    let w = inv.maintenance[0].weekly.as_ref().unwrap();
    assert_eq!(
        w.at,
        Clock {
            hour: 2,
            minute: 30
        }
    );
}

#[test]
fn calendar_and_target_problems_name_keys() {
    let text = "\
slot: 7s
fault_min: 0s
targets:
  host: 1.5
  link: {access: 0}
departments:
  - {code: d, name_zh: 部, name_en: D, target: 0}
";
    assert_eq!(
        keys(text),
        [
            "slot",
            "fault_min",
            "targets.host",
            "targets.link.access",
            "departments[0].target"
        ]
    );
    assert_eq!(keys("slot: 7m\n"), ["slot"]);
    assert_eq!(keys("slot: 30s\nfault_min: 45s\n"), ["fault_min"]);
    let p = &problems("slot: 30s\nfault_min: 45s\n")[0];
    assert_eq!(p.file, Path::new("/x/inv.yaml"));
    assert!(p.message.contains("1m"), "{}", p.message);
    assert!(
        p.to_string().starts_with("/x/inv.yaml: `fault_min`: 45s"),
        "{p}"
    );
}

#[test]
fn duplicate_and_dangling_codes() {
    let text = "\
departments:
  - {code: d, name_zh: 部, name_en: D}
  - {code: d, name_zh: 部二, name_en: ''}
business_systems:
  - {code: b, department: nope, name_zh: 系统, name_en: B}
sites:
  - {code: s, name_zh: 点, name_en: S, level: city, domain: public, parent: ghost}
";
    assert_eq!(
        keys(text),
        [
            "departments[1].code",
            "departments[1].name_en",
            "business_systems[0].department",
            "sites[0].parent"
        ]
    );
    let msgs: Vec<String> = problems(text).into_iter().map(|p| p.message).collect();
    assert!(msgs[0].contains("departments[0]"), "{}", msgs[0]);
    assert!(msgs[2].contains("\"nope\""), "{}", msgs[2]);
}

#[test]
fn parent_cycles_are_reported() {
    let text = "\
sites:
  - {code: a, name_zh: a, name_en: a, level: county, domain: public, parent: b}
  - {code: b, name_zh: b, name_en: b, level: county, domain: public, parent: a}
  - {code: c, name_zh: c, name_en: c, level: county, domain: public, parent: c}
  - {code: d, name_zh: d, name_en: d, level: county, domain: public, parent: a}
";
    let ps = problems(text);
    let keys: Vec<&str> = ps.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        ["sites[0].parent", "sites[1].parent", "sites[2].parent"]
    );
    assert!(ps[0].message.contains("a -> b -> a"), "{}", ps[0].message);
    // Lookups stay finite on a broken tree.
    let inv = parse(text);
    assert_eq!(inv.site_ancestors("d"), ["a", "b"]);
    assert_eq!(inv.site_ancestors("c"), Vec::<String>::new());
}

#[test]
fn topology_is_valid_and_link_rules_are_enforced() {
    assert_eq!(keys(TOPO), Vec::<String>::new());
    let extra = [
        "  - {id: pc, from: P, to: C, level: province-city, domain: administrative}",
        "  - {id: x1, from: C, to: K1, level: province-city, domain: administrative}",
        "  - {id: x2, from: K1, to: C, level: city-county, domain: administrative}",
        "  - {id: x3, from: P, to: K2, level: access, domain: administrative}",
        "  - {id: x4, from: P, to: nowhere, level: access, domain: administrative}",
        "  - {id: x5, from: T, to: T, level: access, domain: administrative}",
    ];
    let bad = format!("{TOPO}{}\n", extra.join("\n"));
    let ps = problems(&bad);
    let keys: Vec<&str> = ps.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "links[5].id",
            // x1: a province-city link from a city to a county.
            "links[6].from",
            "links[6].to",
            // x2: reversed.
            "links[7].from",
            "links[7].to",
            "links[7].to",
            // x3: K2's parent is C, not P.
            "links[8].to",
            "links[9].to",
            "links[10].to",
        ]
    );
    assert!(ps[5].message.contains("swapped"), "{}", ps[5].message);
    assert!(ps[6].message.contains("\"C\""), "{}", ps[6].message);
    assert!(ps[7].message.contains("\"nowhere\""), "{}", ps[7].message);
}

#[test]
fn maintenance_problems() {
    let text = format!(
        "{TOPO}\
maintenance:
  - scope: {{link: pc}}
  - scope: {{link: pc}}
    once: {{start: \"2026-01-01 00:00\", duration: 1h}}
    weekly: {{weekday: mon, at: \"00:00\", duration: 1h}}
  - scope: {{host: bad id}}
    once: {{start: \"2026-01-01 00:00\", duration: 0s}}
  - scope: {{department: nope}}
    weekly: {{weekday: mon, at: \"00:00\", duration: 168h}}
  - scope: {{site: K2}}
    monthly: {{day: 29, at: \"00:00\", duration: 672h}}
  - scope: {{link: gone}}
    monthly: {{day: last, at: \"00:00\", duration: 671h}}
  - scope: {{host: any-agent.example}}
    monthly: {{day: 28, at: \"00:00\", duration: 1h}}
"
    );
    assert_eq!(
        keys(&text),
        [
            "maintenance[0]",
            "maintenance[1]",
            "maintenance[2].scope.host",
            "maintenance[2].once.duration",
            "maintenance[3].scope.department",
            "maintenance[3].weekly.duration",
            "maintenance[4].monthly.duration",
            "maintenance[4].monthly.day",
            "maintenance[5].scope.link",
        ]
    );
}

#[test]
fn targets_fall_back_from_system_to_department_to_default() {
    let inv = parse(
        "\
targets: {host: 0.99, link: {city-county: 0.9995}}
departments:
  - {code: d1, name_zh: 一, name_en: One, target: 0.995}
  - {code: d2, name_zh: 二, name_en: Two}
business_systems:
  - {code: b1, department: d1, name_zh: 甲, name_en: A, target: 0.9999}
  - {code: b2, department: d1, name_zh: 乙, name_en: B}
",
    );
    inv.validate().unwrap();
    assert_eq!(inv.host_target("d1", "b1"), 0.9999);
    assert_eq!(inv.host_target("d1", "b2"), 0.995);
    assert_eq!(inv.host_target("d2", "b2"), 0.99);
    assert_eq!(inv.host_target("d2", ""), 0.99);
    assert_eq!(inv.host_target("", "b1"), 0.9999);

    let topo = parse(&format!(
        "targets: {{link: {{city-county: 0.9995}}}}\n{TOPO}"
    ));
    assert_eq!(topo.link_target(topo.link("ck1").unwrap()), 0.9995);
    assert_eq!(topo.link_target(topo.link("ck2").unwrap()), 0.98);
    assert_eq!(topo.link_target(topo.link("pc").unwrap()), DEFAULT_TARGET);
}

#[test]
fn ancestors_and_what_is_behind_a_link() {
    let inv = parse(TOPO);
    assert_eq!(inv.site_ancestors("U"), ["T", "K1", "C", "P"]);
    assert_eq!(inv.site_ancestors("P"), Vec::<String>::new());
    assert_eq!(inv.site_ancestors("unknown"), Vec::<String>::new());

    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    let b = inv.links_behind("ck1");
    assert_eq!(b.sites, set(&["K1", "T", "U"]));
    assert_eq!(b.links, set(&["kt", "tu"]));
    let b = inv.links_behind("pc");
    assert_eq!(b.sites, set(&["C", "K1", "K2", "T", "U"]));
    assert_eq!(b.links, set(&["ck1", "ck2", "kt", "tu"]));
    let b = inv.links_behind("tu");
    assert_eq!(b.sites, set(&["U"]));
    assert!(b.links.is_empty());
    assert_eq!(inv.links_behind("nope"), Behind::default());
}

#[test]
fn names_by_language() {
    let inv = parse(TOPO);
    let site = inv.site("K1").unwrap();
    assert_eq!(site.name("en"), "County 1");
    assert_eq!(site.name("zh-CN"), "县一");
    let link = inv.link("ck1").unwrap();
    // Only the English name is given: Chinese falls back to it.
    assert_eq!(link.name("zh-CN"), "C-K1");
    assert_eq!(inv.link("pc").unwrap().name("en"), "");
    assert!(is_chinese("zh") && is_chinese("ZH-cn") && !is_chinese("en"));
}

#[test]
fn unknown_labels_skip_empty_values() {
    let inv = parse(&format!(
        "departments:\n  - {{code: d, name_zh: 部, name_en: D}}\n{TOPO}"
    ));
    let labels = zerofault_protocol::Labels {
        department: "d".into(),
        business_system: "".into(),
        datacenter: "dc-x".into(),
        site: "K9".into(),
    };
    assert_eq!(
        inv.unknown_labels(&labels),
        [
            UnknownLabel {
                label: "data_center",
                value: "dc-x".into()
            },
            UnknownLabel {
                label: "site",
                value: "K9".into()
            }
        ]
    );
    let known = zerofault_protocol::Labels {
        department: "d".into(),
        site: "U".into(),
        ..Default::default()
    };
    assert!(inv.unknown_labels(&known).is_empty());
}

fn windows(inv: &Inventory, s: i64, e: i64) -> Vec<(i64, i64)> {
    inv.maintenance_intervals(s, e)
        .into_iter()
        .map(|w| (w.start_unix_ms, w.end_unix_ms))
        .collect()
}

#[test]
fn one_off_window_is_local_and_clipped() {
    let inv = parse(
        "maintenance:\n  - scope: {link: l}\n    once: {start: \"2026-10-03 02:00\", duration: 2h}\n    note: cut-over\n",
    );
    let start = utc(2026, 10, 2, 18, 0); // 02:00 in Shanghai
    let all = inv.maintenance_intervals(0, i64::MAX);
    assert_eq!(
        all,
        [MaintenanceInterval {
            start_unix_ms: start,
            end_unix_ms: start + 2 * H,
            scope: Scope::Link("l".into()),
            note: "cut-over".into(),
        }]
    );
    // The period starts inside the window: clipped at the period start.
    assert_eq!(
        windows(&inv, start + H, start + 10 * H),
        [(start + H, start + 2 * H)]
    );
    // Ends exactly where the period begins: nothing.
    assert!(windows(&inv, start + 2 * H, start + 3 * H).is_empty());
}

#[test]
fn weekly_windows_in_a_shanghai_month_include_one_from_the_previous_month() {
    // Shanghai, March 2026: 1 March is a Sunday, 28 February a Saturday.
    let inv = parse(
        "maintenance:\n  - scope: {department: d}\n    weekly: {weekday: sun, at: \"23:00\", duration: 3h}\n",
    );
    let (s, e) = inv.month_bounds("2026-03").unwrap();
    let sun = |d: i8| utc(2026, 3, d, 15, 0); // 23:00 local = 15:00 UTC
    let want: Vec<(i64, i64)> = [1, 8, 15, 22, 29]
        .into_iter()
        .map(|d| (sun(d), sun(d) + 3 * H))
        .collect();
    assert_eq!(windows(&inv, s, e), want);
    // Saturdays at 23:00 for 3h: the one of Saturday 28 February runs 2h into March and is
    // clipped at the month start; then 7, 14, 21 and 28 March.
    let inv = parse(
        "maintenance:\n  - scope: {department: d}\n    weekly: {weekday: sat, at: \"23:00\", duration: 3h}\n",
    );
    let got = windows(&inv, s, e);
    assert_eq!(got.len(), 5);
    assert_eq!(got[0], (s, s + 2 * H));
    assert_eq!(got[4], (utc(2026, 3, 28, 15, 0), utc(2026, 3, 28, 18, 0)));
    // A month that ends inside a window: Tuesday 31 March 23:00 local, clipped at the end.
    let inv = parse(
        "maintenance:\n  - scope: {department: d}\n    weekly: {weekday: tue, at: \"23:00\", duration: 3h}\n",
    );
    assert_eq!(
        windows(&inv, s, e).last(),
        Some(&(utc(2026, 3, 31, 15, 0), e))
    );
}

#[test]
fn weekly_window_across_berlin_dst_changes() {
    let inv = parse(
        "time_zone: Europe/Berlin\nmaintenance:\n  - scope: {site: s}\n    weekly: {weekday: sun, at: \"02:30\", duration: 1h}\n",
    );
    // Spring forward: Sunday 2026-03-29, 02:00 CET -> 03:00 CEST. 02:30 does not exist, the
    // window starts right after the gap, 03:30 CEST = 01:30 UTC, and lasts 1h of real time.
    let day = |d: i8| (utc(2026, 3, d, 0, 0), utc(2026, 3, d + 1, 0, 0));
    let (s, e) = day(29);
    assert_eq!(
        windows(&inv, s, e),
        [(utc(2026, 3, 29, 1, 30), utc(2026, 3, 29, 2, 30))]
    );
    // The Sunday before: CET, 02:30 = 01:30 UTC.
    let (s, e) = day(22);
    assert_eq!(
        windows(&inv, s, e),
        [(utc(2026, 3, 22, 1, 30), utc(2026, 3, 22, 2, 30))]
    );
    // Fall back: Sunday 2026-10-25, 03:00 CEST -> 02:00 CET; 02:30 happens twice, the first
    // (CEST, 00:30 UTC) is used.
    let (s, e) = (utc(2026, 10, 25, 0, 0), utc(2026, 10, 26, 0, 0));
    assert_eq!(
        windows(&inv, s, e),
        [(utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30))]
    );
    // A whole month sees each Sunday once: October 2026 has 4 Sundays (4, 11, 18, 25).
    let (s, e) = inv.month_bounds("2026-10").unwrap();
    assert_eq!(windows(&inv, s, e).len(), 4);
}

#[test]
fn monthly_windows_last_day_and_run_over() {
    let inv = parse(
        "time_zone: Europe/Berlin\nmaintenance:\n  - scope: {data_center: dc}\n    monthly: {day: last, at: \"23:00\", duration: 3h}\n",
    );
    // February 2026: the window of 31 January (23:00 CET = 22:00 UTC) runs 2h into February;
    // February's own starts on the 28th at 22:00 UTC and is clipped at the month end
    // (midnight CET = 23:00 UTC).
    let (s, e) = inv.month_bounds("2026-02").unwrap();
    assert_eq!(s, utc(2026, 1, 31, 23, 0));
    assert_eq!(
        windows(&inv, s, e),
        [(s, utc(2026, 2, 1, 1, 0)), (utc(2026, 2, 28, 22, 0), e)]
    );
    // March 2026 ends in CEST: 31 March 23:00 CEST = 21:00 UTC; the month ends 22:00 UTC.
    let (s, e) = inv.month_bounds("2026-03").unwrap();
    assert_eq!(
        windows(&inv, s, e),
        [(s, utc(2026, 3, 1, 1, 0)), (utc(2026, 3, 31, 21, 0), e)]
    );

    let inv = parse(
        "maintenance:\n  - scope: {site: s}\n    monthly: {day: 1, at: \"03:00\", duration: 30m}\n",
    );
    // Shanghai: 1st at 03:00 = previous day 19:00 UTC; three months, three windows.
    let (s, _) = inv.month_bounds("2026-01").unwrap();
    let (_, e) = inv.month_bounds("2026-03").unwrap();
    assert_eq!(
        windows(&inv, s, e),
        [
            (utc(2025, 12, 31, 19, 0), utc(2025, 12, 31, 19, 30)),
            (utc(2026, 1, 31, 19, 0), utc(2026, 1, 31, 19, 30)),
            (utc(2026, 2, 28, 19, 0), utc(2026, 2, 28, 19, 30)),
        ]
    );
}

#[test]
fn intervals_of_several_windows_are_sorted_and_carry_scope() {
    let inv = parse(
        "\
maintenance:
  - scope: {host: h1}
    once: {start: \"2026-05-02 00:00\", duration: 1h}
  - scope: {link: l1}
    once: {start: \"2026-05-01 00:00\", duration: 1h}
    note: first
",
    );
    let (s, e) = inv.month_bounds("2026-05").unwrap();
    let got = inv.maintenance_intervals(s, e);
    let scopes: Vec<&Scope> = got.iter().map(|w| &w.scope).collect();
    assert_eq!(
        scopes,
        [&Scope::Link("l1".into()), &Scope::Host("h1".into())]
    );
    assert_eq!(got[0].note, "first");
    assert!(inv.maintenance_intervals(e, s).is_empty());
}

#[test]
fn an_open_ended_period_still_gets_recurring_windows() {
    // i64::MAX is past what a calendar can name; the occurrences up to the calendar's end
    // are still found rather than none.
    let inv = parse(
        "time_zone: UTC\nmaintenance:\n  - scope: {site: s}\n    weekly: {weekday: fri, at: \"00:00\", duration: 1h}\n",
    );
    // December 9999: Fridays 3, 10, 17, 24 (and 31, past jiff's last instant, 30 December
    // 22:00 UTC).
    let got = windows(&inv, utc(9999, 12, 1, 0, 0), i64::MAX);
    let fri = |d: i8| utc(9999, 12, d, 0, 0);
    let want: Vec<(i64, i64)> = [3, 10, 17, 24]
        .into_iter()
        .map(|d| (fri(d), fri(d) + H))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn organisation_is_optional_and_validated() {
    assert_eq!(parse("").organisation_name("en"), "");
    let inv =
        parse("organisation: {name_zh: 湖州市大数据发展管理局, name_en: Huzhou Big Data Bureau}\n");
    assert_eq!(inv.organisation_name("zh-CN"), "湖州市大数据发展管理局");
    assert_eq!(inv.organisation_name("en"), "Huzhou Big Data Bureau");
    assert!(keys("organisation: {name_zh: 局, name_en: Bureau}\n").is_empty());
    let long = "x".repeat(MAX_ORGANISATION_CHARS + 1);
    let p = problems(&format!(
        "organisation: {{name_zh: \" \", name_en: {long}}}\n"
    ));
    let got: Vec<(&str, &str)> = p
        .iter()
        .map(|p| (p.key.as_str(), p.message.as_str()))
        .collect();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].0, "organisation.name_zh");
    assert!(got[0].1.contains("is empty"), "{got:?}");
    assert_eq!(got[1].0, "organisation.name_en");
    assert!(got[1].1.contains("at most 100"), "{got:?}");
    let p = problems("organisation: {name_zh: \"甲\\n乙\", name_en: B}\n");
    assert_eq!(p.len(), 1);
    assert!(
        p[0].message.contains("control character"),
        "{}",
        p[0].message
    );
    // A missing name is a parse error naming the key.
    let e = Inventory::parse("organisation: {name_zh: 局}\n", Path::new("/x/inv.yaml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("name_en"), "{e}");
}
