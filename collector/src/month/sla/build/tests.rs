use super::*;
use crate::month::sla::input::{
    Boot, CapacitySample, FsSample, HostReport, LinkCell, evidence_of_reports,
};

/// 2026-01-01T00:00+08:00.
const T0: i64 = 1_767_196_800_000;
const MIN: i64 = 60_000;
const S: i64 = 1_000;

fn period(slots: i64) -> Period {
    Period {
        month: "2026-01".into(),
        time_zone: "Asia/Shanghai".into(),
        lang: "en".into(),
        organisation: String::new(),
        start_ms: T0,
        end_ms: T0 + slots * MIN,
        slot_ms: MIN,
        fault_min_ms: MIN,
        now_ms: T0 + 40 * 86_400_000,
        generated_ms: T0 + 40 * 86_400_000,
        closed: true,
    }
}

/// Reports every 15 s of boot index `boot` at collector times `from..=to` (ms after T0).
fn reports(boot: u32, seq0: u64, from: i64, to: i64) -> Vec<HostReport> {
    (0..)
        .map(|k| from + k * 15 * S)
        .take_while(|&t| t <= to)
        .enumerate()
        .map(|(k, t)| HostReport {
            boot,
            sequence: seq0 + k as u64,
            agent_ms: T0 + t,
            clock_offset_ms: 0,
            interval_ms: 15 * S,
        })
        .collect()
}

fn labels(department: &str, business_system: &str, data_center: &str, site: &str) -> Labels {
    Labels {
        department: department.into(),
        business_system: business_system.into(),
        data_center: data_center.into(),
        site: site.into(),
    }
}

fn host(
    id: &str,
    labels: Labels,
    target: Option<f64>,
    boots: &[i64],
    r: Vec<HostReport>,
) -> HostInput {
    HostInput {
        agent_id: id.into(),
        hostname: format!("{id}.example"),
        labels,
        target,
        maintenance: Vec::new(),
        boots: evidence_of_reports(
            &boots
                .iter()
                .enumerate()
                .map(|(i, &t)| Boot {
                    boot_id: format!("boot-{i}"),
                    boot_time_ms: T0 + t,
                })
                .collect::<Vec<_>>(),
            &r,
        ),
        mounts: Vec::new(),
        capacity: Vec::new(),
    }
}

fn link(id: &str, level: &str, domain: &str, down: &[(i64, i64)], slots: i64) -> LinkInput {
    LinkInput {
        link_id: id.into(),
        name: format!("{id} name"),
        level: level.into(),
        domain: domain.into(),
        from_site: "a".into(),
        to_site: "b".into(),
        target: Some(0.999),
        maintenance: Vec::new(),
        down: down
            .iter()
            .map(|&(a, b)| Interval::new(T0 + a, T0 + b))
            .collect(),
        coverage: vec![Interval::new(T0, T0 + slots * 60 * S)],
        degraded: Vec::new(),
        cells: (0..slots * 4)
            .map(|k| {
                LinkCell::of_window(
                    T0 + k * 15 * S,
                    T0 + (k + 1) * 15 * S,
                    0.0,
                    Some(2.0),
                    Some(0.5),
                )
            })
            .collect(),
        behind_hosts: Vec::new(),
        behind_links: Vec::new(),
    }
}

/// Ten minutes: a province-city link down 2:00-5:00 in front of a city-county link down
/// 2:00-6:00 and two hosts that rebooted meanwhile; a host that dies at 6:45 while the
/// collector is down 7:00-8:00; a 30 s blip on a county-township link at 8:00.
fn scenario() -> MonthInput {
    let mut pc = link(
        "pc-1",
        "province-city",
        "administrative",
        &[(2 * MIN, 5 * MIN)],
        10,
    );
    pc.behind_hosts = vec!["h1".into(), "h2".into(), "nobody".into()];
    pc.behind_links = vec!["cc-1".into()];
    let mut cc = link(
        "cc-1",
        "city-county",
        "administrative",
        &[(2 * MIN, 6 * MIN)],
        10,
    );
    cc.behind_hosts = vec!["h2".into()];
    let ct = link(
        "ct-1",
        "county-township",
        "public",
        &[(8 * MIN, 8 * MIN + 30 * S)],
        10,
    );

    let mut r1 = reports(0, 1, -15 * S, 2 * MIN);
    r1.extend(reports(1, 100, 4 * MIN + 15 * S, 10 * MIN));
    let mut h1 = host(
        "h1",
        labels("d1", "b1", "dc1", "k1"),
        Some(0.99),
        &[-MIN, 4 * MIN],
        r1,
    );
    h1.mounts = vec!["/data".into()];
    h1.capacity = (0..3)
        .map(|k| CapacitySample {
            at_ms: T0 + k * MIN,
            cpu_cores: 4,
            cpu_usage: Some(0.5),
            memory_total_bytes: 100,
            memory_used_bytes: 50,
            filesystems: vec![FsSample {
                mount: 0,
                size_bytes: 1_000_000,
                used_bytes: 100_000 + k as u64 * 1000,
                inodes: None,
            }],
            cpu_steal: None,
            disks: Vec::new(),
            clock_synchronised: None,
        })
        .collect();
    let mut r2 = reports(0, 1, -15 * S, 2 * MIN);
    r2.extend(reports(1, 100, 6 * MIN + 15 * S, 10 * MIN));
    let h2 = host(
        "h2",
        labels("d1", "b1", "dc1", "k1"),
        None,
        &[-MIN, 6 * MIN],
        r2,
    );
    let h3 = host(
        "h3",
        labels("d2", "b2", "dc2", ""),
        Some(0.5),
        &[-MIN],
        reports(0, 1, -15 * S, 6 * MIN + 45 * S),
    );
    let mut names = GroupNames::default();
    names
        .departments
        .insert("d1".into(), "Department One".into());
    names.departments.insert("d9".into(), "Nine".into());
    names.targets.departments.insert("d1".into(), 0.75);
    names.targets.departments.insert("d9".into(), 0.99);
    names
        .targets
        .backbone_levels
        .insert("province-city".into(), 0.5);
    let mut previous = PreviousCapacity::default();
    previous.data_centers.insert("dc1".into(), 50_500.0);
    MonthInput {
        period: period(10),
        collector_runs: vec![
            Interval::new(T0 - MIN, T0 + 7 * MIN),
            Interval::new(T0 + 8 * MIN, T0 + 20 * MIN),
        ],
        hosts: vec![h3, h1, h2],
        links: vec![ct, pc, cc],
        names,
        previous,
        unknown_labels: vec![
            UnknownLabel {
                agent_id: "h3".into(),
                label: "site".into(),
                value: "zz".into(),
            },
            UnknownLabel {
                agent_id: "h1".into(),
                label: "site".into(),
                value: "k1".into(),
            },
        ],
    }
}

#[test]
fn the_scenario_month() {
    let r = build(&scenario()).unwrap();
    assert_eq!(r.model_version, MODEL_VERSION);
    assert_eq!((r.slot_seconds, r.fault_min_seconds), (60, 60));
    assert_eq!(
        r.collector_gaps,
        [CollectorGap {
            start_unix_ms: T0 + 7 * MIN,
            end_unix_ms: T0 + 8 * MIN
        }]
    );

    let ids: Vec<&str> = r.hosts.iter().map(|h| h.agent_id.as_str()).collect();
    assert_eq!(ids, ["h1", "h2", "h3"]);
    let (h1, h2, h3) = (&r.hosts[0], &r.hosts[1], &r.hosts[2]);
    // h1: reboot 2:00-4:00, all of it while pc-1 was down: down, suppressed, no fault.
    assert_eq!((h1.figures.minutes.down, h1.figures.faults), (2.0, 0));
    assert_eq!(h1.figures.availability, Some(0.8));
    assert_eq!(h1.figures.target_met, Some(false));
    assert_eq!(h1.suppressed_by, ["pc-1"]);
    // h2: down 2:00-6:00; pc-1 is the cause to 5:00, then cc-1 (no longer behind a down
    // link) until 6:00.
    assert_eq!((h2.figures.minutes.down, h2.figures.faults), (4.0, 0));
    assert_eq!(h2.suppressed_by, ["cc-1", "pc-1"]);
    // h3: dies at 6:45; 7:00-8:00 the collector was down (unknown, not down); 8:00-10:00
    // silence while others were heard: a 2-minute fault.
    let m = &h3.figures.minutes;
    assert_eq!((m.up, m.unknown, m.down), (7.0, 1.0, 2.0));
    assert_eq!((h3.figures.faults, h3.figures.fault_minutes), (1, 2.0));
    assert_eq!(h3.figures.coverage, Some(0.9));
    assert_eq!(h3.figures.target_met, Some(true));
    assert!(h3.suppressed_by.is_empty());

    let ids: Vec<&str> = r.links.iter().map(|l| l.link_id.as_str()).collect();
    assert_eq!(ids, ["cc-1", "ct-1", "pc-1"]);
    let (cc, ct, pc) = (&r.links[0], &r.links[1], &r.links[2]);
    assert_eq!((pc.figures.faults, pc.figures.fault_minutes), (1, 3.0));
    assert_eq!(
        (
            cc.figures.minutes.down,
            cc.figures.faults,
            cc.figures.fault_minutes
        ),
        (4.0, 1, 1.0)
    );
    assert_eq!(cc.suppressed_by, ["pc-1"]);
    assert_eq!(
        (ct.figures.minutes.down, ct.figures.faults),
        (1.0, 0),
        "30 s is half a slot: a down minute, but no fault (30 s measured < fault_min)"
    );
    assert_eq!(
        (
            pc.avg_rtt_ms,
            pc.p95_rtt_ms,
            pc.jitter_ms,
            pc.avg_loss_ratio
        ),
        (Some(2.0), Some(2.0), Some(0.5), Some(0.0))
    );
    assert_eq!(pc.name, "pc-1 name");

    let inc: Vec<(&str, &str, i64, f64)> = r
        .incidents
        .iter()
        .map(|i| {
            (
                i.kind.as_str(),
                i.id.as_str(),
                (i.start_unix_ms - T0) / MIN,
                i.minutes,
            )
        })
        .collect();
    assert_eq!(
        inc,
        [
            ("link", "pc-1", 2, 3.0),
            ("link", "cc-1", 5, 1.0),
            ("host", "h3", 8, 2.0),
        ]
    );
    assert_eq!(r.incidents[0].suppressed_hosts, ["h1", "h2"]);
    assert_eq!(r.incidents[0].suppressed_links, ["cc-1"]);
    assert_eq!(r.incidents[0].end_unix_ms, T0 + 5 * MIN);
    assert_eq!(
        (
            r.incidents[0].level.as_str(),
            r.incidents[0].domain.as_str()
        ),
        ("province-city", "administrative")
    );
    assert_eq!(r.incidents[1].suppressed_hosts, ["h2"]);
    assert!(r.incidents[1].suppressed_links.is_empty());

    let bb: Vec<(&str, &str, u32, bool, Vec<String>)> = r
        .backbone
        .iter()
        .map(|b| {
            (
                b.level.as_str(),
                b.domain.as_str(),
                b.links,
                b.fault_free,
                b.worst_links.clone(),
            )
        })
        .collect();
    assert_eq!(
        bb,
        [
            (
                "province-city",
                "administrative",
                1,
                false,
                vec!["pc-1".to_owned()]
            ),
            ("province-city", "public", 0, true, vec![]),
            (
                "city-county",
                "administrative",
                1,
                false,
                vec!["cc-1".to_owned()]
            ),
            ("city-county", "public", 0, true, vec![]),
            ("county-township", "administrative", 0, true, vec![]),
            (
                "county-township",
                "public",
                1,
                // Its 30 s blip is down time (a worst link), but not a fault.
                true,
                vec!["ct-1".to_owned()]
            ),
        ]
    );
    assert_eq!(r.backbone[1].figures.availability, None);

    let deps: Vec<(&str, &str, u32, u32)> = r
        .departments
        .iter()
        .map(|g| {
            (
                g.code.as_str(),
                g.name.as_str(),
                g.members,
                g.members_meeting_target,
            )
        })
        .collect();
    assert_eq!(
        deps,
        [
            ("d1", "Department One", 2, 0),
            ("d2", "d2", 1, 1),
            ("d9", "Nine", 0, 0)
        ]
    );
    assert!((r.departments[0].figures.availability.unwrap() - 0.7).abs() < 1e-12);
    // Group rows carry their inventory target: d1 (0.7) misses 0.75; d2 has none; d9 has
    // a target but no availability, so whether it is met is not defined.
    let targets: Vec<(Option<f64>, Option<bool>)> = r
        .departments
        .iter()
        .map(|g| (g.figures.target, g.figures.target_met))
        .collect();
    assert_eq!(
        targets,
        [(Some(0.75), Some(false)), (None, None), (Some(0.99), None)]
    );
    for b in &r.backbone {
        let want = (b.level == "province-city").then_some(0.5);
        assert_eq!(b.figures.target, want, "{} {}", b.level, b.domain);
        assert_eq!(
            b.figures.target_met,
            want.zip(b.figures.availability).map(|(t, a)| a >= t),
            "{} {}",
            b.level,
            b.domain
        );
    }
    assert!(
        r.backbone
            .iter()
            .any(|b| b.level == "province-city" && b.figures.target_met == Some(true)),
        "a province-city row with links meets 0.5"
    );
    assert_eq!(r.business_systems.len(), 2);
    assert_eq!(r.data_centers.len(), 2);

    let cap: Vec<(&str, &str, u32, u64)> = r
        .capacity
        .iter()
        .map(|c| (c.kind.as_str(), c.code.as_str(), c.hosts, c.cpu_cores))
        .collect();
    assert_eq!(
        cap,
        [
            ("data_center", "dc1", 1, 4),
            ("data_center", "dc2", 0, 0),
            ("department", "d1", 1, 4),
            ("department", "d2", 0, 0),
            ("department", "d9", 0, 0),
        ]
    );
    let dc1 = &r.capacity[0];
    assert_eq!(dc1.fullest_filesystem, "h1:/data");
    assert!((dc1.storage_growth.unwrap() - (101_000.0 / 50_500.0 - 1.0)).abs() < 1e-12);
    assert_eq!(
        r.capacity[2].storage_growth, None,
        "no previous figure for d1"
    );
    assert_eq!(dc1.cpu_avg, Some(0.5));

    assert_eq!(r.unknown_labels[0].agent_id, "h1");
}

#[test]
fn a_month_to_date_has_no_slot_after_now() {
    let mut input = scenario();
    // 5 min 40 s into the 10-minute period: 5 whole slots have happened.
    input.period.now_ms = T0 + 5 * MIN + 40 * S;
    input.period.closed = false;
    let r = build(&input).unwrap();
    assert!(r.month_to_date);
    assert_eq!(r.as_of_unix_ms, Some(T0 + 5 * MIN));
    assert_eq!(r.covered_end_unix_ms(), T0 + 5 * MIN);
    assert_eq!(r.end_unix_ms, T0 + 10 * MIN, "the month's end is kept");
    let h1 = &r.hosts[0].figures;
    assert_eq!(
        (h1.minutes.up, h1.minutes.down, h1.minutes.unknown),
        (3.0, 2.0, 0.0),
        "the 5 minutes after now are not counted at all"
    );
    assert_eq!(h1.coverage, Some(1.0), "coverage of the elapsed time");
    for f in r
        .hosts
        .iter()
        .map(|h| &h.figures)
        .chain(r.links.iter().map(|l| &l.figures))
    {
        let m = f.minutes;
        assert_eq!(m.up + m.degraded + m.down + m.maintenance + m.unknown, 5.0);
    }
    assert!(r.incidents.iter().all(|i| i.end_unix_ms <= T0 + 5 * MIN));
    assert_eq!(r.collector_gaps, [], "the gap at 7:00 has not happened yet");

    // A past month is complete.
    let r = build(&scenario()).unwrap();
    assert!(!r.month_to_date);
    assert_eq!(r.as_of_unix_ms, None);
    assert_eq!(r.covered_end_unix_ms(), r.end_unix_ms);
}

#[test]
fn a_future_month_or_one_without_a_whole_slot_is_an_error() {
    let mut p = period(10);
    p.now_ms = T0 - 1;
    assert_eq!(
        MonthBuilder::new(p, &[]).unwrap_err(),
        SlaError::FutureMonth {
            month: "2026-01".into(),
            start_ms: T0,
            now_ms: T0 - 1
        }
    );
    let mut p = period(10);
    p.now_ms = T0 + MIN - 1;
    let e = MonthBuilder::new(p, &[]).unwrap_err();
    assert_eq!(
        e,
        SlaError::NoSlotYet {
            month: "2026-01".into(),
            slot_ms: MIN
        }
    );
    assert!(e.to_string().contains("2026-01"), "{e}");
    // Exactly at the end, the month is over.
    let mut p = period(10);
    p.now_ms = T0 + 10 * MIN;
    assert_eq!(covered_end(&p), Ok(T0 + 10 * MIN));
    p.now_ms = T0 + MIN;
    assert_eq!(covered_end(&p), Ok(T0 + MIN));
}

#[test]
fn bad_periods_and_duplicates_are_errors() {
    let mut p = period(10);
    p.end_ms = p.start_ms;
    assert!(matches!(
        MonthBuilder::new(p, &[]),
        Err(SlaError::EmptyPeriod { .. })
    ));
    let mut p = period(10);
    p.slot_ms = 999;
    assert_eq!(
        MonthBuilder::new(p, &[]).unwrap_err(),
        SlaError::BadSlot { slot_ms: 999 }
    );
    let mut p = period(10);
    p.slot_ms = 7_000;
    assert!(matches!(
        MonthBuilder::new(p, &[]),
        Err(SlaError::NotWholeSlots { .. })
    ));
    let mut input = scenario();
    input.hosts.push(input.hosts[0].clone());
    assert_eq!(
        build(&input).unwrap_err(),
        SlaError::DuplicateHost("h3".into())
    );
    let mut input = scenario();
    input.links.push(input.links[0].clone());
    assert_eq!(
        build(&input).unwrap_err(),
        SlaError::DuplicateLink("ct-1".into())
    );
}

mod props {
    use super::*;
    use proptest::prelude::*;

    /// A host: up to three boots, each a stretch of reports (start, length, slot ms).
    fn arb_host() -> impl Strategy<Value = Vec<(i64, i64)>> {
        prop::collection::vec((-5 * MIN..65 * MIN, 0..30 * MIN), 0..4)
    }

    fn input(
        hosts: &[Vec<(i64, i64)>],
        runs: &[(i64, i64)],
        maint: &[(i64, i64)],
        downs: &[(i64, i64)],
        now: i64,
    ) -> MonthInput {
        let mut p = period(60);
        p.now_ms = T0 + now;
        let hosts = hosts
            .iter()
            .enumerate()
            .map(|(i, boots)| {
                let mut sorted = boots.clone();
                sorted.sort_unstable();
                let mut r = Vec::new();
                let mut bt = Vec::new();
                let mut seq = 1;
                for (b, &(start, len)) in sorted.iter().enumerate() {
                    bt.push(start - 20 * S);
                    let rs = reports(b as u32, seq, start, start + len);
                    seq += rs.len() as u64 + 1;
                    r.extend(rs);
                }
                let mut h = host(
                    &format!("h{i}"),
                    labels("d", "b", "dc", "s"),
                    Some(0.9),
                    &bt,
                    r,
                );
                h.maintenance = maint
                    .iter()
                    .map(|&(a, l)| Interval::new(T0 + a, T0 + a + l))
                    .collect();
                h
            })
            .collect();
        let mut l = link("l", "city-county", "public", &[], 60);
        l.down = downs
            .iter()
            .map(|&(a, len)| Interval::new(T0 + a, T0 + a + len))
            .collect();
        l.maintenance = maint
            .iter()
            .map(|&(a, len)| Interval::new(T0 + a, T0 + a + len))
            .collect();
        l.behind_hosts = vec!["h0".into(), "h1".into()];
        MonthInput {
            period: p,
            collector_runs: runs
                .iter()
                .map(|&(a, len)| Interval::new(T0 + a, T0 + a + len))
                .collect(),
            hosts,
            links: vec![l],
            names: GroupNames::default(),
            previous: PreviousCapacity::default(),
            unknown_labels: Vec::new(),
        }
    }

    fn check(f: &Figures, elapsed: f64) -> Result<(), TestCaseError> {
        let m = f.minutes;
        prop_assert_eq!(
            m.up + m.degraded + m.down + m.maintenance + m.unknown,
            elapsed
        );
        for x in [f.availability, f.coverage].into_iter().flatten() {
            prop_assert!((0.0..=1.0).contains(&x), "{x}");
        }
        prop_assert!(f.fault_minutes <= m.down);
        prop_assert!(f.longest_outage_minutes <= m.down);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn minutes_add_up_and_ratios_stay_in_range(
            hosts in prop::collection::vec(arb_host(), 0..4),
            runs in prop::collection::vec((-5 * MIN..65 * MIN, 0..40 * MIN), 0..3),
            maint in prop::collection::vec((0..60 * MIN, 0..10 * MIN), 0..2),
            downs in prop::collection::vec((0..60 * MIN, 0..10 * MIN), 0..3),
            now in MIN..70 * MIN,
        ) {
            let r = build(&input(&hosts, &runs, &maint, &downs, now)).unwrap();
            // Whole minutes elapsed, at most the 60 of the period: no slot after now.
            let elapsed = (now / MIN).min(60) as f64;
            prop_assert_eq!(r.month_to_date, now < 60 * MIN);
            for h in &r.hosts {
                check(&h.figures, elapsed)?;
            }
            for l in &r.links {
                check(&l.figures, elapsed)?;
            }
            for g in r.departments.iter().chain(&r.data_centers) {
                for x in [g.figures.availability, g.figures.coverage].into_iter().flatten() {
                    prop_assert!((0.0..=1.0).contains(&x));
                }
            }
        }

        /// The collector's own outage never becomes a host's down time: without any
        /// collector run, a host with one boot (no reboot gap) has no down slot.
        #[test]
        fn collector_downtime_is_never_down(
            boots in prop::collection::vec((-5 * MIN..65 * MIN, 0..30 * MIN), 1..2),
            other in arb_host(),
        ) {
            let r = build(&input(&[boots, other], &[], &[], &[], 70 * MIN)).unwrap();
            prop_assert_eq!(r.hosts[0].figures.minutes.down, 0.0);
        }

        /// More collector uptime can only turn unknown into down, never up into down.
        #[test]
        fn collector_runs_only_resolve_unknown(
            hosts in prop::collection::vec(arb_host(), 1..3),
            runs in prop::collection::vec((-5 * MIN..65 * MIN, 0..40 * MIN), 0..3),
        ) {
            let without = build(&input(&hosts, &[], &[], &[], 70 * MIN)).unwrap();
            let with = build(&input(&hosts, &runs, &[], &[], 70 * MIN)).unwrap();
            for (a, b) in without.hosts.iter().zip(&with.hosts) {
                prop_assert!(b.figures.minutes.up <= a.figures.minutes.up);
                prop_assert_eq!(a.figures.minutes.maintenance, b.figures.minutes.maintenance);
                prop_assert_eq!(
                    a.figures.minutes.unknown + a.figures.minutes.down + a.figures.minutes.up,
                    b.figures.minutes.unknown + b.figures.minutes.down + b.figures.minutes.up
                );
            }
        }
    }
}
