use super::*;

fn inventory() -> Inventory {
    Inventory::parse(
        "\
time_zone: Asia/Shanghai
departments:
  - {code: fin, name_zh: 财政, name_en: Finance}
sites:
  - {code: wuxing, name_zh: 吴兴, name_en: Wuxing, level: county, domain: administrative}
",
        std::path::Path::new("/etc/zerofault/inventory.yaml"),
    )
    .unwrap()
}

fn args(scope: ScopeArgs, from: &str, to: &str, reason: &str) -> AdjustArgs {
    AdjustArgs {
        config: "/x".into(),
        scope,
        from: from.into(),
        to: to.into(),
        reason: reason.into(),
    }
}

fn site(code: &str) -> ScopeArgs {
    ScopeArgs {
        host: None,
        link: None,
        department: None,
        business_system: None,
        data_center: None,
        site: Some(code.into()),
    }
}

/// 2026-11-30 00:00 +08:00.
const NOW: i64 = 1_795_968_000_000;

#[test]
fn times_are_local_or_rfc3339() {
    let tz = inventory().time_zone;
    // 2026-11-03 14:00 in Shanghai is 06:00 UTC.
    let local = parse_time("2026-11-03 14:00", &tz).unwrap();
    assert_eq!(local, parse_time("2026-11-03T06:00:00Z", &tz).unwrap());
    assert_eq!(local, parse_time("2026-11-03T14:00:00+08:00", &tz).unwrap());
    let e = parse_time("3 Nov", &tz).unwrap_err();
    assert!(e.contains("YYYY-MM-DD HH:MM"), "{e}");
    // Skipped and repeated local times of a daylight-saving change are refused.
    let berlin = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
    for t in ["2026-03-29 02:30", "2026-10-25 02:30"] {
        let e = parse_time(t, &berlin).unwrap_err();
        assert!(e.contains("RFC 3339"), "{t}: {e}");
    }
    assert!(parse_time("2026-10-25T02:30:00+01:00", &berlin).is_ok());
}

#[test]
fn an_adjustment_is_checked_before_anything_is_recorded() {
    let inv = inventory();
    let ok = checked(
        &args(
            site("wuxing"),
            "2026-11-03 14:00",
            "2026-11-03 18:30",
            " power cut (notice 17) ",
        ),
        &inv,
        NOW,
    )
    .unwrap();
    assert_eq!((ok.kind.as_str(), ok.code.as_str()), ("site", "wuxing"));
    assert_eq!(ok.end_ms - ok.start_ms, 270 * 60_000);
    assert_eq!(ok.reason, "power cut (notice 17)");

    let refused = |a: AdjustArgs, says: &str| {
        let e = checked(&a, &inv, NOW).unwrap_err();
        assert!(e.contains(says), "{e:?} should say {says:?}");
    };
    refused(
        args(site("nowhere"), "2026-11-03 14:00", "2026-11-03 18:30", "x"),
        "--site \"nowhere\" is not in the inventory (/etc/zerofault/inventory.yaml)",
    );
    let mut host = site("x");
    host.site = None;
    host.host = Some("no spaces allowed".into());
    refused(
        args(host, "2026-11-03 14:00", "2026-11-03 18:30", "x"),
        "not a valid agent id",
    );
    refused(
        args(site("wuxing"), "2026-11-03 18:30", "2026-11-03 14:00", "x"),
        "--to must be after --from",
    );
    refused(
        args(site("wuxing"), "2026-11-29 14:00", "2026-12-01 00:00", "x"),
        "in the future",
    );
    refused(
        args(site("wuxing"), "2026-09-01 00:00", "2026-11-01 00:00", "x"),
        "longer than 31 days",
    );
    refused(
        args(site("wuxing"), "2026-11-03 14:00", "2026-11-03 18:30", "  "),
        "--reason is empty",
    );
    refused(
        args(
            site("wuxing"),
            "2026-11-03 14:00",
            "2026-11-03 18:30",
            "a\nb",
        ),
        "one line",
    );
    refused(
        args(
            site("wuxing"),
            "2026-11-03 14:00",
            "2026-11-03 18:30",
            "=HYPERLINK(1)",
        ),
        "formula",
    );
}
