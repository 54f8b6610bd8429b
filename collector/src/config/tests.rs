//! The configuration file's tests: parsing, defaults, every problem named with its key.

use std::time::Duration;

use super::*;

const MINIMAL: &str = "tls:\n  ca: ca.pem\n  cert: c.pem\n  key: c.key\n";

#[test]
fn defaults_and_relative_paths() {
    let c = Config::parse(MINIMAL, Path::new("/etc/zf/collector.yaml")).unwrap();
    assert_eq!(c.listen.ingest, DEFAULT_INGEST_LISTEN.parse().unwrap());
    assert_eq!(c.listen.http, DEFAULT_HTTP_LISTEN.parse().unwrap());
    assert_eq!(c.tls.ca, Path::new("/etc/zf/ca.pem"));
    assert_eq!(
        c.storage.sqlite_path(),
        Some(Path::new(DEFAULT_SQLITE_PATH))
    );
    assert_eq!(c.limits.max_body_bytes, 1 << 20);
    assert_eq!(c.limits.max_decompressed_bytes, 8 << 20);
    assert_eq!(c.hosts.down_after_intervals, 3);
    assert_eq!(c.links.fault_min, Duration::from_secs(60));
    assert_eq!(c.links.down_loss_ratio, 1.0);
    assert_eq!(c.links.down_confirm_probes, 3);
    assert_eq!(c.links.up_confirm_probes, 2);
    assert_eq!(c.links.replay, Duration::from_secs(48 * 3600));
    let t = c.links.thresholds.for_level("city-county");
    assert_eq!(t.degraded_loss_ratio, 0.02);
    assert_eq!(t.degraded_rtt, Duration::from_millis(100));
    assert_eq!(c.metrics.detail, DetailSetting::Auto);
    assert_eq!(c.metrics.full_detail_max_hosts, 2_000);
    assert_eq!(c.metrics.max_concurrent_scrapes, 2);
    assert_eq!(c.metrics.scrape_timeout, Duration::from_secs(60));
    c.validate_structure().unwrap();
}

#[test]
fn metrics_settings_parse_and_bad_values_name_their_keys() {
    let text = format!(
        "{MINIMAL}metrics:\n  detail: essential\n  full_detail_max_hosts: 50\n  \
         max_concurrent_scrapes: 0\n  scrape_timeout: 100ms\n"
    );
    let c = Config::parse(&text, Path::new("c.yaml")).unwrap();
    assert_eq!(c.metrics.detail, DetailSetting::Essential);
    assert_eq!(c.metrics.full_detail_max_hosts, 50);
    let e = c.validate_structure().unwrap_err().to_string();
    assert!(e.contains("metrics.max_concurrent_scrapes"), "{e}");
    assert!(e.contains("metrics.scrape_timeout"), "{e}");
    for bad in ["metrics:\n  detail: some\n", "metrics:\n  detial: full\n"] {
        let e = Config::parse(&format!("{MINIMAL}{bad}"), Path::new("c.yaml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("metrics"), "{bad}: {e}");
    }
}

#[test]
fn shipped_example_level_entries_are_valid_when_uncommented() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/collector.yaml");
    // The commented level entries below `links.thresholds`.
    let mut in_thresholds = false;
    let text: String = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| {
            in_thresholds |= l == "  thresholds:";
            match l.strip_prefix("    # ") {
                Some(rest) if in_thresholds => format!("    {rest}\n"),
                _ => format!("{l}\n"),
            }
        })
        .collect();
    let c = Config::parse(&text, &path).unwrap();
    c.validate_structure().unwrap();
    let t = c.links.thresholds.for_level("access");
    assert_eq!(t.degraded_rtt, Duration::from_millis(200));
    assert_ne!(c.links, Links::default());
}

#[test]
fn level_thresholds_fall_back_to_default_field_by_field() {
    let text = format!(
        "{MINIMAL}links:\n  thresholds:\n    default: {{degraded_loss_ratio: 0.05}}\n    \
         access: {{degraded_rtt: 300ms}}\n    province-city: {{degraded_loss_ratio: 0.01, degraded_rtt: 20ms}}\n"
    );
    let c = Config::parse(&text, Path::new("c.yaml")).unwrap();
    c.validate_structure().unwrap();
    let t = &c.links.thresholds;
    let get = |l| {
        let x = t.for_level(l);
        (x.degraded_loss_ratio, x.degraded_rtt.as_millis())
    };
    assert_eq!(get(""), (0.05, 100));
    assert_eq!(get("access"), (0.05, 300));
    assert_eq!(get("province-city"), (0.01, 20));
    assert_eq!(get("city-county"), (0.05, 100));
}

#[test]
fn unknown_level_or_link_key_is_a_parse_error() {
    for (extra, word) in [
        ("links:\n  thresholds:\n    city-town: {}\n", "city-town"),
        ("links:\n  fault_minimum: 60s\n", "fault_minimum"),
        ("links:\n  fault_min: 60\n", "no unit"),
    ] {
        let msg = Config::parse(&format!("{MINIMAL}{extra}"), Path::new("c.yaml"))
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("c.yaml:"), "{msg}");
        assert!(msg.contains(word), "{msg}");
    }
}

#[test]
fn bad_link_values_name_their_keys() {
    let text = format!(
        "{MINIMAL}links:\n  fault_min: 0s\n  down_loss_ratio: 1.5\n  down_confirm_probes: 0\n  \
         up_confirm_probes: 0\n  thresholds:\n    county-township: {{degraded_loss_ratio: 2, degraded_rtt: 0s}}\n"
    );
    let c = Config::parse(&text, Path::new("/x/c.yaml")).unwrap();
    let ConfigError::Invalid { problems } = c.validate_structure().unwrap_err() else {
        panic!("expected Invalid");
    };
    let keys: Vec<_> = problems.iter().map(|p| p.key).collect();
    assert_eq!(
        keys,
        [
            "links.fault_min",
            "links.down_loss_ratio",
            "links.down_confirm_probes",
            "links.up_confirm_probes",
            "links.thresholds.county-township.degraded_loss_ratio",
            "links.thresholds.county-township.degraded_rtt",
        ]
    );
    assert!(
        problems[0]
            .to_string()
            .starts_with("/x/c.yaml: `links.fault_min`: ")
    );
}

#[test]
fn unknown_key_names_file_and_line() {
    let text = format!("{MINIMAL}limits:\n  max_body_byte: 5\n");
    let e = Config::parse(&text, Path::new("/x/c.yaml")).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.starts_with(
            "/x/c.yaml:6:3: key 'limits.max_body_byte': unknown key; expected one of \
             max_body_bytes, max_decompressed_bytes, body_timeout, body_idle_timeout, connection_idle_timeout, \
             max_concurrent_decodes, max_pending_bytes, max_connections, \
                 max_connections_per_agent, \
             max_handshakes_per_address, new_connections_per_address_per_second, \
             requests_per_agent_per_second; did you mean `max_body_bytes`?"
        ),
        "{msg}"
    );
}

#[test]
fn missing_tls_is_named_as_tls_not_as_the_first_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, "listen:\n  ingest: 0.0.0.0:7443\nhosts: {}\n").unwrap();
    let msg = Config::check(&path).unwrap_err().to_string();
    // One problem, for the section, not one per file nor one blamed on `listen`.
    assert_eq!(msg.lines().count(), 1, "{msg}");
    assert!(
        msg.starts_with(&format!(
            "{}: key 'tls': is missing; add a `tls:` section",
            path.display()
        )),
        "{msg}"
    );
    let c = Config::parse("hosts: {}\n", Path::new("c.yaml")).unwrap();
    let msg = c.validate_structure().unwrap_err().to_string();
    assert!(msg.starts_with("c.yaml: `tls`: is missing"), "{msg}");
}

/// Issue 11 item 9: a typo'd key, a wrong type and a missing certificate are all listed
/// in one run, each with file:line, the key, what was expected and the fix, in the
/// order of the file.
#[test]
fn check_lists_every_kind_of_problem_with_line_and_fix() {
    let dir = tempfile::tempdir().unwrap();
    crate::cmd::certs::ensure_ca(dir.path())
        .unwrap()
        .issue_collector(&["localhost".into()], &Default::default())
        .unwrap();
    let pem = dir.path().join("collector.pem");
    let aside = dir.path().join("aside.pem");
    std::fs::rename(&pem, &aside).unwrap();
    let path = dir.path().join("collector.yaml");
    std::fs::write(
        &path,
        "tls:\n  ca: ca.pem\n  cert: collector.pem\n  key: collector.key\n\
         limits:\n  max_body_byts: 1048576\n\
         hosts:\n  down_after_intervals: three\n",
    )
    .unwrap();
    let msg = Config::check(&path).unwrap_err().to_string();
    let lines: Vec<&str> = msg.lines().collect();
    let file = path.display();
    let d = dir.path().display();
    assert_eq!(
        lines,
        [
            format!(
                "{file}:3:3: key 'tls.cert': cannot read {d}/collector.pem: No such file or \
                 directory (os error 2); make the collector's certificate and key with \
                 `zerofault-collector certs --dir {d} --collector-name NAME` (NAME: the host \
                 name agents connect to; writes collector.pem and collector.key), or fix the path"
            ),
            format!(
                "{file}:6:3: key 'limits.max_body_byts': unknown key; expected one of \
                 max_body_bytes, max_decompressed_bytes, body_timeout, body_idle_timeout, connection_idle_timeout, \
                 max_concurrent_decodes, max_pending_bytes, max_connections, \
                 max_connections_per_agent, \
                 max_handshakes_per_address, new_connections_per_address_per_second, \
                 requests_per_agent_per_second; did you mean `max_body_bytes`? Fix the \
                 spelling or remove the key"
            ),
            format!(
                "{file}:8:25: key 'hosts.down_after_intervals': found \"three\", expected a \
                 whole number from 0 to 4294967295, digits only, no unit or quotes; write it so"
            ),
        ]
    );
    // The same file fixed passes and keeps its values.
    std::fs::rename(&aside, &pem).unwrap();
    std::fs::write(
        &path,
        "tls:\n  ca: ca.pem\n  cert: collector.pem\n  key: collector.key\n\
         hosts:\n  down_after_intervals: 4\n",
    )
    .unwrap();
    let c = Config::check(&path).unwrap();
    assert_eq!(c.hosts.down_after_intervals, 4);
}

#[test]
fn bad_values_are_all_reported_with_key() {
    let text =
        format!("{MINIMAL}hosts:\n  down_after_intervals: 0\nlimits:\n  max_body_bytes: 0\n");
    let c = Config::parse(&text, Path::new("/x/c.yaml")).unwrap();
    let ConfigError::Invalid { problems } = c.validate_structure().unwrap_err() else {
        panic!("expected Invalid");
    };
    let keys: Vec<_> = problems.iter().map(|p| p.key).collect();
    assert_eq!(
        keys,
        ["limits.max_body_bytes", "hosts.down_after_intervals"]
    );
    assert!(
        problems[0]
            .to_string()
            .starts_with("/x/c.yaml: `limits.max_body_bytes`")
    );
}

#[test]
fn connection_idle_timeout_is_bounded() {
    for (value, ok) in [
        ("500ms", false),
        ("1s", true),
        ("120s", true),
        ("1h", true),
        ("2h", false),
    ] {
        let text = format!("{MINIMAL}limits:\n  connection_idle_timeout: {value}\n");
        let c = Config::parse(&text, Path::new("/x/c.yaml")).unwrap();
        match c.validate_structure() {
            Ok(_) => assert!(ok, "{value} accepted"),
            Err(ConfigError::Invalid { problems }) => {
                assert!(!ok, "{value} refused: {problems:?}");
                assert_eq!(problems[0].key, "limits.connection_idle_timeout");
                assert!(
                    problems[0].to_string().contains("agents' idle timeout"),
                    "{}",
                    problems[0]
                );
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(
        Config::parse(MINIMAL, Path::new("/x/c.yaml"))
            .unwrap()
            .limits
            .connection_idle_timeout,
        std::time::Duration::from_secs(120)
    );
}

#[test]
fn missing_tls_file_names_key_and_path() {
    let c = Config::parse(MINIMAL, Path::new("/nonexistent/c.yaml")).unwrap();
    let msg = c.validate().unwrap_err().to_string();
    assert!(msg.contains("`tls.ca`"), "{msg}");
    assert!(msg.contains("/nonexistent/ca.pem"), "{msg}");
    // Every broken file is listed, not only the first.
    assert!(
        msg.contains("`tls.cert`") && msg.contains("`tls.key`"),
        "{msg}"
    );
}

#[test]
fn listen_address_error_says_what_is_expected() {
    let text = format!("{MINIMAL}listen:\n  ingest: collector:7443\n");
    let msg = Config::parse(&text, Path::new("c.yaml"))
        .unwrap_err()
        .to_string();
    assert!(msg.starts_with("c.yaml:6:"), "{msg}");
    assert!(msg.contains("IP:PORT"), "{msg}");
}

#[test]
fn inventory_path_is_resolved_and_optional() {
    let c = Config::parse(MINIMAL, Path::new("/etc/zf/collector.yaml")).unwrap();
    assert_eq!(c.inventory, None);
    assert!(c.load_inventory().unwrap().is_none());
    let text = format!("{MINIMAL}inventory: inv/inventory.yaml\n");
    let c = Config::parse(&text, Path::new("/etc/zf/collector.yaml")).unwrap();
    assert_eq!(
        c.inventory.as_deref(),
        Some(Path::new("/etc/zf/inv/inventory.yaml"))
    );
    let text = format!("{MINIMAL}inventory: ''\n");
    let c = Config::parse(&text, Path::new("/x/c.yaml")).unwrap();
    let ConfigError::Invalid { problems } = c.validate_structure().unwrap_err() else {
        panic!("expected Invalid");
    };
    assert_eq!(problems[0].key, "inventory");
}

#[test]
fn validate_reports_each_inventory_problem_under_the_inventory_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("inventory.yaml"),
        "slot: 7s\nbusiness_systems:\n  - {code: b, department: nope, name_zh: 乙, name_en: B}\n",
    )
    .unwrap();
    let path = dir.path().join("collector.yaml");
    let text = format!("{MINIMAL}inventory: inventory.yaml\n");
    let c = Config::parse(&text, &path).unwrap();
    let ConfigError::Invalid { problems } = c.validate().unwrap_err() else {
        panic!("expected Invalid");
    };
    let inventory: Vec<&Problem> = problems.iter().filter(|p| p.key == "inventory").collect();
    assert_eq!(inventory.len(), 2, "{problems:?}");
    let inv_file = dir.path().join("inventory.yaml");
    assert!(
        inventory[0]
            .message
            .starts_with(&format!("{}: `slot`", inv_file.display())),
        "{}",
        inventory[0]
    );
    assert!(
        inventory[1]
            .message
            .contains("`business_systems[0].department`"),
        "{}",
        inventory[1]
    );
    // A missing file is one problem naming it.
    let text = format!("{MINIMAL}inventory: missing.yaml\n");
    let c = Config::parse(&text, &path).unwrap();
    let msg = c.validate().unwrap_err().to_string();
    assert!(
        msg.contains("`inventory`: ") && msg.contains("missing.yaml"),
        "{msg}"
    );
}

#[test]
fn shipped_example_inventory_line_works_when_uncommented() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/collector.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("\n# inventory: inventory.yaml\n"));
    let text = text.replace(
        "\n# inventory: inventory.yaml\n",
        "\ninventory: inventory.yaml\n",
    );
    let c = Config::parse(&text, &path).unwrap();
    let inventory = c.load_inventory().unwrap().unwrap();
    assert!(!inventory.links.is_empty());
}

#[test]
fn shipped_example_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/collector.yaml");
    let c = Config::load(&path).unwrap();
    c.validate_structure().unwrap();
    // The example documents the defaults; keep them in step.
    assert_eq!(c.listen, Listen::default());
    assert_eq!(c.limits, Limits::default());
    assert_eq!(c.hosts, Hosts::default());
    assert_eq!(c.links, Links::default());
    assert_eq!(
        c.storage.sqlite_path(),
        Some(Path::new(DEFAULT_SQLITE_PATH))
    );
}

/// `storage.sqlite` and `storage.postgres` are one choice: both at once is refused at the
/// line of `storage.postgres`, and each PostgreSQL value problem names its own key and line.
#[test]
fn storage_is_sqlite_or_postgres_never_both() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(
        &path,
        "storage:\n  sqlite:\n    path: z.db\n  postgres:\n    url: postgresql://zf@db/zf\n    \
         tls:\n      mode: disable\n",
    )
    .unwrap();
    let msg = Config::check(&path).unwrap_err().to_string();
    let file = path.display();
    assert!(
        msg.contains(&format!(
            "{file}:4:3: key 'storage.postgres': is set together with storage.sqlite"
        )),
        "{msg}"
    );

    std::fs::write(
        &path,
        "storage:\n  postgres:\n    url: postgresql://zf:secret@db:notaport/zf\n    \
         pool_size: 0\n    tls:\n      mode: prefer\n",
    )
    .unwrap();
    let msg = Config::check(&path).unwrap_err().to_string();
    assert!(
        msg.contains(&format!(
            "{file}:3:5: key 'storage.postgres.url': is not a PostgreSQL connection URL"
        )),
        "{msg}"
    );
    assert!(
        msg.contains(&format!(
            "{file}:4:5: key 'storage.postgres.pool_size': is 0"
        )),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("{file}:6:13: key 'storage.postgres.tls.mode'")),
        "{msg}"
    );
    assert!(!msg.contains("secret"), "{msg}");
}

/// The commented PostgreSQL block of the shipped example, put in place of the SQLite one,
/// is a valid configuration with the documented defaults.
#[test]
fn shipped_example_postgres_block_is_valid_when_uncommented() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/collector.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut out = String::new();
    let mut in_storage = false;
    for line in text.lines() {
        if line == "storage:" {
            in_storage = true;
        } else if !line.starts_with(' ') && !line.is_empty() && !line.starts_with('#') {
            in_storage = false;
        }
        if in_storage && (line == "  sqlite:" || line.starts_with("    ")) {
            continue;
        }
        let line = match line.strip_prefix("  # ") {
            Some(rest) if in_storage && (rest == "postgres:" || rest.starts_with("  ")) => {
                format!("  {rest}")
            }
            _ => line.to_string(),
        };
        out.push_str(&line);
        out.push('\n');
    }
    let c = Config::parse(&out, &path).unwrap();
    c.validate_structure().unwrap();
    let Backend::Postgres(pg) = c.storage.backend() else {
        panic!("not PostgreSQL:\n{out}");
    };
    assert_eq!(pg.pool_size, DEFAULT_POOL_SIZE);
    assert_eq!(pg.writers(), DEFAULT_WRITERS);
    assert_eq!(pg.tls.mode, TlsMode::VerifyFull);
    assert!(pg.tls.ca.is_some());
    assert!(c.storage.to_string().starts_with("PostgreSQL database "));
}

#[test]
fn instance_defaults_to_the_host_name_and_bad_names_are_named() {
    let c = Config::parse(MINIMAL, Path::new("c.yaml")).unwrap();
    assert_eq!(c.instance, None);
    let host = std::fs::read_to_string(HOSTNAME_FILE).unwrap();
    let want = if instance_problem(host.trim()).is_none() {
        host.trim().to_owned()
    } else {
        "collector".to_owned()
    };
    assert_eq!(c.instance_name(), want);
    let c = Config::parse(
        &format!("{MINIMAL}instance: collector-b\n"),
        Path::new("c.yaml"),
    )
    .unwrap();
    assert_eq!(c.instance_name(), "collector-b");
    c.validate_structure().unwrap();
    let long = "x".repeat(MAX_INSTANCE_BYTES + 1);
    for bad in ["''", "a b", "köln", long.as_str()] {
        let c = Config::parse(&format!("{MINIMAL}instance: {bad}\n"), Path::new("c.yaml")).unwrap();
        let e = c.validate_structure().unwrap_err().to_string();
        assert!(
            e.contains("key 'instance'") || e.contains("`instance`"),
            "{bad}: {e}"
        );
    }
}

#[test]
fn remote_write_targets_parse_with_defaults_relative_paths_and_named_problems() {
    let text = format!(
        "{MINIMAL}remote_write:\n  queue_dir: rw\n  targets:\n    - name: vm\n      \
         url: https://vm.example:8428/api/v1/write\n      tls: {{ca: vm-ca.pem}}\n      \
         bearer_token_file: vm.token\n"
    );
    let c = Config::parse(&text, Path::new("/etc/zf/collector.yaml")).unwrap();
    let rw = &c.remote_write;
    assert_eq!(rw.queue_dir, Path::new("/etc/zf/rw"));
    assert_eq!(rw.state_interval, Duration::from_secs(60));
    let t = &rw.targets[0];
    assert_eq!(t.tls.as_ref().unwrap().ca, Path::new("/etc/zf/vm-ca.pem"));
    assert_eq!(
        t.bearer_token_file.as_deref(),
        Some(Path::new("/etc/zf/vm.token"))
    );
    assert_eq!((t.shards, t.max_samples_per_send), (4, 2000));
    assert_eq!(t.max_queue_bytes, 8 << 30);
    assert_eq!(t.max_sample_age, None);
    c.validate_structure().unwrap();
    // Files are read by `validate` as `serve` reads them: a missing CA names its key.
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("remote_write.targets.tls.ca"), "{e}");

    let bad = format!(
        "{MINIMAL}remote_write:\n  targets:\n    - {{name: a, url: http://x/api/v1/write}}\n    \
         - {{name: a, url: 'vm:8428', shards: 0, max_samples_per_send: 0}}\n"
    );
    let e = Config::parse(&bad, Path::new("c.yaml"))
        .unwrap()
        .validate_structure()
        .unwrap_err()
        .to_string();
    for key in [
        "remote_write.targets.name",
        "remote_write.targets.url",
        "remote_write.targets.shards",
        "remote_write.targets.max_samples_per_send",
    ] {
        assert!(e.contains(key), "{key}: {e}");
    }
    assert!(e.contains("used twice"), "{e}");
    // A typo'd key is refused, not ignored.
    let typo =
        format!("{MINIMAL}remote_write:\n  targets:\n    - {{name: a, url: http://x, shard: 2}}\n");
    assert!(Config::parse(&typo, Path::new("c.yaml")).is_err());
}
