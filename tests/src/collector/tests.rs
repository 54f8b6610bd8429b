use super::*;

#[test]
fn config_has_the_documented_keys() {
    let b = CollectorBuilder {
        ca_cert: "/c/ca.pem".into(),
        cert: "/c/collector.pem".into(),
        key: "/c/collector.key".into(),
        agents_dir: "/c/agents".into(),
        down_after_intervals: Some(3),
        max_body_bytes: Some(10),
        max_decompressed_bytes: None,
        links: None,
        max_skew: None,
        limits: vec![("body_timeout".into(), "5s".into())],
        open_file_limit: None,
        postgres: None,
        extra: String::new(),
        https: false,
        ingest_every_address: false,
    };
    let y = b.config_yaml(
        "127.0.0.1:1".parse().unwrap(),
        "127.0.0.1:2".parse().unwrap(),
        Path::new("/d"),
    );
    assert_eq!(
        y,
        "listen:\n  ingest: \"127.0.0.1:1\"\n  http: 127.0.0.1:2\ntls:\n  ca: \"/c/ca.pem\"\n  \
         cert: \"/c/collector.pem\"\n  key: \"/c/collector.key\"\nstorage:\n  sqlite:\n    \
         path: \"/d/zerofault.db\"\nlimits:\n  max_body_bytes: 10\n  body_timeout: 5s\nhosts:\n  \
         down_after_intervals: 3\n"
    );
}

#[test]
fn clock_section_only_when_max_skew_is_set() {
    let b = CollectorBuilder {
        ca_cert: "/c/ca.pem".into(),
        cert: "/c/collector.pem".into(),
        key: "/c/collector.key".into(),
        agents_dir: "/c/agents".into(),
        down_after_intervals: None,
        max_body_bytes: None,
        max_decompressed_bytes: None,
        links: None,
        max_skew: None,
        limits: Vec::new(),
        open_file_limit: None,
        postgres: None,
        extra: String::new(),
        https: false,
        ingest_every_address: false,
    };
    let (i, h) = (
        "127.0.0.1:1".parse().unwrap(),
        "127.0.0.1:2".parse().unwrap(),
    );
    assert!(!b.config_yaml(i, h, Path::new("/d")).contains("clock"));
    let y = b.max_skew("1m").config_yaml(i, h, Path::new("/d"));
    assert!(y.ends_with("clock:\n  max_skew: 1m\n"), "{y}");
}

#[test]
fn links_section_has_only_the_set_keys() {
    assert_eq!(LinksConfig::default().yaml(), "");
    let l = LinksConfig {
        fault_min: Some("60s".into()),
        up_confirm_probes: Some(2),
        ..LinksConfig::default()
    };
    assert_eq!(
        l.yaml(),
        "links:\n  fault_min: 60s\n  up_confirm_probes: 2\n"
    );
}

#[test]
fn fault_from_json() {
    let v: serde_json::Value = serde_json::from_str(
        r#"{"link":"a","level":"city-county","domain":"public","start_unix_ms":1000,
            "end_unix_ms":null,"duration_seconds":12.5,"agents":["x"],"ongoing":true,
            "settled":false}"#,
    )
    .unwrap();
    let f = Fault::from_json(&v).unwrap();
    assert_eq!((f.end_unix_ms, f.duration_seconds), (None, 12.5));
    assert_eq!(f.agents, vec!["x".to_string()]);
    let mut v2 = v.clone();
    v2["end_unix_ms"] = serde_json::json!(91_000);
    assert_eq!(Fault::from_json(&v2).unwrap().end_unix_ms, Some(91_000));
    v2["start_unix_ms"] = serde_json::json!("soon");
    assert!(Fault::from_json(&v2).is_err());
}

#[test]
fn yaml_path_quotes_and_escapes() {
    assert_eq!(yaml_path(Path::new("/tmp/a b\"c")), r#""/tmp/a b\"c""#);
}
