use super::*;
use crate::probe::link::LinkKind;
use crate::transport::settings::check_collector_url;

const GOOD: &str = "\
agent:
  id: web-01
labels:
  department: fgw
  datacenter: dc-north
collector:
  url: https://collector.example:7443/
tls:
  ca: pki/ca.pem
  cert: /etc/zerofault/agent.pem
  key: agent.key
";

fn load_str(text: &str) -> Result<Config, ConfigError> {
    let path = Path::new("/etc/zerofault/agent.yaml");
    parse(path, text)?.validate(path, CheckFiles::No)
}

fn issues(text: &str) -> Vec<Problem<String>> {
    match load_str(text) {
        Err(ConfigError::Invalid { problems, .. }) => problems,
        other => panic!("expected validation issues, got {other:?}"),
    }
}

#[test]
fn good_config_gets_defaults_and_resolved_paths() {
    let c = load_str(GOOD).unwrap();
    assert_eq!(c.agent_id, "web-01");
    assert_eq!(c.state_dir, PathBuf::from("/var/lib/zerofault/agent"));
    assert_eq!(c.labels.department, "fgw");
    assert_eq!(c.labels.site, "");
    assert_eq!(c.collector_urls, ["https://collector.example:7443"]);
    assert_eq!(
        c.ingest_url(),
        "https://collector.example:7443/api/v1/report"
    );
    assert_eq!(c.collector_timeout, Duration::from_secs(10));
    assert_eq!(c.interval, Duration::from_secs(15));
    assert_eq!(c.tls.ca, PathBuf::from("/etc/zerofault/pki/ca.pem"));
    assert_eq!(c.tls.cert, PathBuf::from("/etc/zerofault/agent.pem"));
    assert_eq!(c.tls.key, PathBuf::from("/etc/zerofault/agent.key"));
}

#[test]
fn spool_defaults_and_bounds() {
    let c = load_str(GOOD).unwrap();
    assert_eq!(c.spool.dir, PathBuf::from("/var/lib/zerofault/agent/spool"));
    assert_eq!(c.spool.max_bytes, 512 << 20);
    assert_eq!(c.spool.backfill_rate, 50);
    let c = load_str(&format!(
        "{GOOD}spool:\n  dir: spool\n  max_bytes: 1048576\n  backfill_rate: 5\n"
    ))
    .unwrap();
    assert_eq!(c.spool.dir, PathBuf::from("/etc/zerofault/spool"));
    assert_eq!(c.spool.max_bytes, 1 << 20);
    assert_eq!(c.spool.backfill_rate, 5);
    let is = issues(&format!(
        "{GOOD}spool:\n  dir: ''\n  max_bytes: 1000\n  backfill_rate: 0\n"
    ));
    let keys: Vec<_> = is.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        keys,
        ["spool.dir", "spool.max_bytes", "spool.backfill_rate"]
    );
    assert!(is[1].message.contains("256 KiB"), "{}", is[1].message);
    let e = load_str(&format!("{GOOD}spool:\n  size: 5\n")).unwrap_err();
    assert!(e.to_string().contains("size"), "{e}");
}

#[test]
fn relative_state_dir_is_resolved_against_the_config_dir() {
    let c = load_str(&format!("{GOOD}\n")).unwrap();
    assert!(c.state_dir.is_absolute());
    let text = GOOD.replace("  id: web-01\n", "  id: web-01\n  state_dir: state\n");
    let c = load_str(&text).unwrap();
    assert_eq!(c.state_dir, PathBuf::from("/etc/zerofault/state"));
}

#[test]
fn unknown_key_is_named_with_its_line() {
    let text = GOOD
        .replace("interval", "x")
        .replace("collector:\n", "collector:\n  urll: https://x\n");
    let err = load_str(&text).unwrap_err().to_string();
    assert!(
        err.starts_with(
            "/etc/zerofault/agent.yaml:7:3: key 'collector.urll': unknown key; expected one \
                 of url, urls, timeout; did you mean `url`?"
        ),
        "{err}"
    );
}

#[test]
fn unknown_top_level_key_is_named() {
    let err = load_str(&format!("{GOOD}intervall: 15s\n"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("intervall"), "{err}");
}

#[test]
fn yaml_syntax_error_names_file_and_line() {
    let err = load_str("agent:\n  id: [web\n").unwrap_err().to_string();
    assert!(err.starts_with("/etc/zerofault/agent.yaml:2:"), "{err}");
    assert!(err.contains("key 'agent.id'"), "{err}");
}

#[test]
fn bad_duration_is_named() {
    let is = issues(&format!("{GOOD}interval: 15\n"));
    assert_eq!(is.len(), 1);
    assert_eq!(is[0].key, "interval");
    assert!(is[0].message.contains("no unit"), "{is:?}");

    let is = issues(&format!("{GOOD}interval: 0s\n"));
    assert_eq!(
        load_str(&format!("{GOOD}interval: 0s\n"))
            .unwrap_err()
            .to_string(),
        "/etc/zerofault/agent.yaml: key 'interval': \"0s\" is too short; use at least 1s"
    );
    assert_eq!(is[0].key, "interval");

    let is = issues(&GOOD.replace("collector:\n", "collector:\n  timeout: 10 minutes\n"));
    assert_eq!(is[0].key, "collector.timeout");
    assert!(is[0].message.contains("unknown unit"), "{is:?}");

    let is = issues(&format!("{GOOD}interval: 2d\n"));
    assert_eq!(is[0].key, "interval");
    let is = issues(&format!("{GOOD}interval: 25h\n"));
    assert!(is[0].message.contains("at most 24h"), "{is:?}");
}

#[test]
fn missing_id_is_named() {
    let is = issues(&GOOD.replace("  id: web-01\n", "  state_dir: /tmp/x\n"));
    assert_eq!(is.len(), 1);
    assert_eq!(is[0].key, "agent.id");
    assert!(is[0].message.contains("required"));
    let is = issues(&GOOD.replace("agent:\n  id: web-01\n", ""));
    assert_eq!(is[0].key, "agent.id");
}

#[test]
fn invalid_id_is_named() {
    let is = issues(&GOOD.replace("web-01", "web 01/x"));
    assert_eq!(is[0].key, "agent.id");
    assert!(is[0].message.contains("not a valid id"));
}

#[test]
fn http_url_is_refused() {
    let is = issues(&GOOD.replace("https://", "http://"));
    assert_eq!(is.len(), 1);
    assert_eq!(is[0].key, "collector.url");
    assert!(is[0].message.contains("use https://"), "{is:?}");
}

#[test]
fn collector_url_checks() {
    assert!(check_collector_url("").is_err());
    assert!(check_collector_url("collector:7443").is_err());
    assert!(check_collector_url("https://c:7443/?a=b").is_err());
    assert!(check_collector_url("https://u:p@c:7443").is_err());
    assert_eq!(
        check_collector_url("https://c:7443/zf/").unwrap(),
        "https://c:7443/zf"
    );
    assert_eq!(
        check_collector_url("https://[::1]:7443").unwrap(),
        "https://[::1]:7443"
    );
}

#[test]
fn several_collector_urls_are_a_list_checked_entry_by_entry() {
    let several = |list: &str| GOOD.replace("  url: https://collector.example:7443/\n", list);
    let c = load_str(&several(
        "  urls:\n    - https://c1.example:7443/\n    - https://c2.example:7443\n",
    ))
    .unwrap();
    assert_eq!(
        c.collector_urls,
        ["https://c1.example:7443", "https://c2.example:7443"]
    );
    assert_eq!(c.ingest_url(), "https://c1.example:7443/api/v1/report");

    let is = issues(&several(
        "  urls: [https://c1:7443, http://c2:7443, https://c1:7443/]\n",
    ));
    let found: Vec<_> = is
        .iter()
        .map(|i| (i.key.as_str(), i.message.as_str()))
        .collect();
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[0].0, "collector.urls");
    assert!(
        found[0].1.starts_with("entry 2: ") && found[0].1.contains("use https://"),
        "{found:?}"
    );
    assert!(
        found[1].1.starts_with("entry 3: ") && found[1].1.contains("twice"),
        "{found:?}"
    );

    // url and urls together: one of them must go.
    let is = issues(&GOOD.replace(
        "  url: https://collector.example:7443/\n",
        "  url: https://c0:7443\n  urls: [https://c1:7443]\n",
    ));
    assert_eq!(is.len(), 1, "{is:?}");
    assert_eq!(is[0].key, "collector.url");

    let many: String = (0..17)
        .map(|i| format!("    - https://c{i}:7443\n"))
        .collect();
    let is = issues(&several(&format!("  urls:\n{many}")));
    assert_eq!(is.len(), 1, "{is:?}");
    assert!(is[0].message.contains("more than 16"), "{is:?}");
}

#[test]
fn missing_sections_are_all_reported() {
    let is = issues("");
    let keys: Vec<_> = is.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        keys,
        ["agent.id", "collector.url", "tls.ca", "tls.cert", "tls.key"]
    );
}

#[test]
fn long_label_is_named() {
    let long = "x".repeat(129);
    let is = issues(&GOOD.replace("dc-north", &long));
    assert_eq!(is[0].key, "labels.datacenter");
}

#[test]
fn wrong_type_names_the_key() {
    let err = load_str(&GOOD.replace("department: fgw", "department: [a, b]"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("department") || err.contains("line 4"),
        "{err}"
    );
}

#[test]
fn example_config_in_the_repository_is_structurally_valid() {
    let path = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../configs/agent.yaml"
    ));
    let c = load(path, CheckFiles::No).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.interval, Duration::from_secs(15));
    assert_eq!(c.collector_timeout, Duration::from_secs(10));
    assert!(c.collector_urls[0].starts_with("https://"));
}

#[test]
fn example_config_urls_block_is_valid_when_uncommented_instead_of_url() {
    let path = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../configs/agent.yaml"
    ));
    let text = std::fs::read_to_string(path).unwrap();
    let edited: String = text
        .lines()
        .filter(|l| l.trim_start() != "url: https://collector.example:7443")
        .map(|l| match l.strip_prefix("  # ") {
            Some(rest) if rest.starts_with("urls:") || rest.starts_with("  - https://") => {
                format!("  {rest}\n")
            }
            _ => format!("{l}\n"),
        })
        .collect();
    assert_ne!(edited, text);
    let c = parse(path, &edited)
        .unwrap()
        .validate(path, CheckFiles::No)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c.collector_urls,
        [
            "https://collector-a.example:7443",
            "https://collector-b.example:7443"
        ]
    );
}

/// A report carries at most `Limits::max_loss_runs` loss runs: a config whose targets
/// could lose every other probe in more runs than that is refused up front, rather than
/// every such report by the collector.
#[test]
fn probes_that_could_exceed_the_reports_loss_runs_are_refused() {
    let with = |n: usize| {
        let mut text = format!("{GOOD}probes:\n");
        for i in 0..n {
            text.push_str(&format!(
                "  - link: l-{i}\n    kind: icmp\n    target: 198.18.{}.{}\n    interval: 10ms\n",
                i / 200,
                i % 200 + 1
            ));
        }
        text
    };
    // 15 s / 10 ms = 1,500 probes a window, at worst 750 runs per target.
    assert_eq!(load_str(&with(87)).unwrap().probes.len(), 87);
    let e = load_str(&with(88)).unwrap_err().to_string();
    assert!(e.contains("66000 runs per report"), "{e}");
    assert!(e.contains("at most 65536"), "{e}");
}

#[test]
fn probes_default_to_none_and_get_defaults() {
    assert!(load_str(GOOD).unwrap().probes.is_empty());
    let text = format!(
        "{GOOD}probes:\n  - link: gz-huadu-01\n    kind: icmp\n    target: 198.18.0.2\n    level: city-county\n    domain: administrative\n  - link: gz-huadu-01\n    kind: tcp\n    target: \"[2001:db8::2]:443\"\n    interval: 200ms\n  - link: portal\n    kind: http\n    target: https://portal.example/health\n    interval: 5s\n    timeout: 3s\n    ca: pki/portal-ca.pem\n"
    );
    let c = load_str(&text).unwrap();
    assert_eq!(c.probes.len(), 3);
    let p = &c.probes[0];
    assert_eq!(p.link, "gz-huadu-01");
    assert_eq!(p.kind, LinkKind::Icmp);
    assert_eq!(p.interval, Duration::from_secs(1));
    assert_eq!(p.timeout, Duration::from_secs(1));
    assert_eq!(
        (p.level.as_str(), p.domain.as_str()),
        ("city-county", "administrative")
    );
    assert!(p.trusted_cas.is_empty());
    let p = &c.probes[1];
    assert_eq!(p.target_text, "[2001:db8::2]:443");
    assert_eq!(
        p.timeout,
        Duration::from_millis(200),
        "default timeout = interval"
    );
    assert_eq!(p.level, "");
    let p = &c.probes[2];
    assert_eq!(p.timeout, Duration::from_secs(3));
    assert_eq!(
        p.trusted_cas,
        [
            PathBuf::from("/etc/zerofault/pki/portal-ca.pem"),
            PathBuf::from("/etc/zerofault/pki/ca.pem")
        ]
    );
}

#[test]
fn probe_problems_name_the_entry_and_key() {
    let text = format!(
        "{GOOD}probes:\n  - link: a\n    kind: icmp\n    target: 198.18.0.2\n  - link: bad id\n    kind: udp\n    target: x\n  - kind: tcp\n    target: 198.18.0.2\n    interval: 5ms\n    timeout: 0s\n    level: metro\n    domain: private\n  - link: a\n    kind: icmp\n    target: 198.18.0.3\n  - link: c\n    kind: http\n    target: http://x/\n    ca: ca.pem\n  - link: d\n    kind: icmp\n    target: 198.18.0.4\n    interval: 30s\n"
    );
    let is = issues(&text);
    let keys: Vec<_> = is.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "probes[1].link",
            "probes[1].kind",
            "probes[2].link",
            "probes[2].target",
            "probes[2].interval",
            "probes[2].timeout",
            "probes[2].level",
            "probes[2].domain",
            "probes[3].link",
            "probes[4].ca",
            "probes[5].interval",
        ],
        "{is:#?}"
    );
    assert!(is[3].message.contains("no port"), "{is:?}");
    assert!(is[4].message.contains("at least 10ms"), "{is:?}");
    assert!(
        is[8]
            .message
            .contains("already has a probe of kind icmp at probes[0]"),
        "{is:?}"
    );
    assert!(is[10].message.contains("at most 15s"), "{is:?}");
    let err = load_str(&text).unwrap_err().to_string();
    assert!(
        err.contains("/etc/zerofault/agent.yaml: key 'probes[2].target': "),
        "{err}"
    );
}

#[test]
fn same_link_different_kinds_is_fine_and_unknown_probe_keys_are_refused() {
    let text = format!(
        "{GOOD}probes:\n  - link: a\n    kind: icmp\n    target: h.example\n  - link: a\n    kind: tcp\n    target: h.example:22\n"
    );
    assert_eq!(load_str(&text).unwrap().probes.len(), 2);
    let err = load_str(&format!(
        "{GOOD}probes:\n  - link: a\n    kind: icmp\n    target: h\n    port: 1\n"
    ))
    .unwrap_err()
    .to_string();
    assert!(err.contains("port"), "{err}");
}

#[test]
fn example_probes_section_is_valid_when_uncommented() {
    let path = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../configs/agent.yaml"
    ));
    let text = std::fs::read_to_string(path).unwrap();
    let start = text
        .find("\n# probes:\n")
        .expect("the example has a probes section")
        + 1;
    let enabled: String = text[start..]
        .lines()
        .map(|l| l.strip_prefix("# ").unwrap_or(l))
        .map(|l| format!("{l}\n"))
        .collect();
    let c = parse(path, &format!("{}{enabled}", &text[..start]))
        .unwrap()
        .validate(path, CheckFiles::No)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.probes.len(), 3);
    assert_eq!(c.probes[2].trusted_cas.len(), 2);
}

/// Issue 11 item 9: a typo'd key, a wrong type and a missing certificate are all listed
/// in one run, in the order of the file, each with its line, key, expectation and fix.
#[test]
fn load_lists_every_kind_of_problem_with_line_and_fix() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.yaml");
    let d = dir.path().display();
    for name in ["ca.pem", "agent.key"] {
        std::fs::write(dir.path().join(name), "not PEM").unwrap();
    }
    std::fs::write(
        &path,
        "agent:\n  id: web-01\n  stat_dir: /tmp/x\ncollector:\n  url: https://c:7443\n\
             tls:\n  ca: ca.pem\n  cert: agent.pem\n  key: agent.key\nspool:\n  max_bytes: lots\n",
    )
    .unwrap();
    let msg = load(&path, CheckFiles::Yes).unwrap_err().to_string();
    let lines: Vec<&str> = msg.lines().collect();
    let file = path.display();
    assert_eq!(lines.len(), 5, "{msg}");
    assert_eq!(
        lines[0],
        format!(
            "{file}:3:3: key 'agent.stat_dir': unknown key; expected one of id, state_dir; \
                 did you mean `state_dir`? Fix the spelling or remove the key"
        )
    );
    assert!(
        lines[1].starts_with(&format!("{file}:7:3: key 'tls.ca': ")),
        "{msg}"
    );
    assert_eq!(
        lines[2],
        format!(
            "{file}:8:3: key 'tls.cert': cannot read {d}/agent.pem: No such file or \
                 directory (os error 2); enroll this agent with a token from \
                 `zerofault-collector certs token --agent web-01`: `zerofault-agent enroll \
                 --config FILE --token-file TOKENS` (the key is made here), or issue its \
                 certificate on the collector host with `zerofault-collector certs --dir DIR \
                 --agent web-01` and copy DIR/agents/web-01.pem and web-01.key here, or fix the \
                 path"
        )
    );
    assert!(
        lines[3].starts_with(&format!("{file}:9:3: key 'tls.key': ")),
        "{msg}"
    );
    assert_eq!(
        lines[4],
        format!(
            "{file}:11:14: key 'spool.max_bytes': found \"lots\", expected a whole number \
                 from 0 to 18446744073709551615, digits only, no unit or quotes; write it so"
        )
    );
}

#[test]
fn missing_tls_files_are_named_with_their_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.yaml");
    std::fs::write(&path, GOOD).unwrap();
    let err = load(&path, CheckFiles::Yes).unwrap_err().to_string();
    assert!(err.contains("key 'tls.ca'"), "{err}");
    assert!(err.contains("pki/ca.pem"), "{err}");
    assert!(err.contains("key 'tls.key'"), "{err}");
    assert!(err.contains("agent.key"), "{err}");
}
