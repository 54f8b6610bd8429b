use super::*;

#[test]
fn intervals() {
    for ok in ["5s", "5 s", "1000ms", "1m", "2h"] {
        assert_eq!(parse_interval(ok).unwrap(), ok);
    }
    for bad in ["", "5", "s", "0s", "500ms", "5sec", "-1s", "1.5s"] {
        assert!(parse_interval(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn unspecified_listen_addresses_are_reached_through_loopback() {
    let a: SocketAddr = "0.0.0.0:7443".parse().unwrap();
    assert_eq!(connect_addr(a), "127.0.0.1:7443".parse().unwrap());
    let a: SocketAddr = "[::]:7443".parse().unwrap();
    assert_eq!(connect_addr(a), "[::1]:7443".parse().unwrap());
    let a: SocketAddr = "192.0.2.1:7443".parse().unwrap();
    assert_eq!(connect_addr(a), a);
}

#[test]
fn a_taken_port_names_the_flag() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let err = check_free(addr, "--http-listen").unwrap_err().to_string();
    assert!(err.contains("--http-listen"), "{err}");
    assert!(err.contains(&addr.to_string()), "{err}");
}

#[test]
fn the_written_files_pass_the_collectors_own_validation() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = std::fs::canonicalize(tmp.path()).unwrap();
    let args = DemoArgs {
        dir: dir.clone(),
        ingest_listen: "127.0.0.1:17443".parse().unwrap(),
        http_listen: "127.0.0.1:19464".parse().unwrap(),
        interval: "5s".into(),
    };
    let endpoints = Endpoints {
        ingest: args.ingest_listen,
        http: args.http_listen,
        cut: "127.0.0.1:17999".parse().unwrap(),
    };
    let layout = make_certs(&dir, args.ingest_listen).unwrap();
    let files = write_files(&dir, &layout, &args, &endpoints).unwrap();
    // What `validate` and `serve` check: every key, the TLS files, the inventory.
    let config = crate::config::Config::check(&files.collector_config)
        .expect("the collector accepts the demo config");
    assert_eq!(config.listen.ingest, args.ingest_listen);
    assert_eq!(config.listen.http, args.http_listen);
    assert_eq!(
        config.storage.sqlite_path(),
        Some(dir.join("zerofault.db").as_path())
    );
    assert_eq!(config.tls.cert, dir.join("collector.pem"));
    let inventory = config.load_inventory().unwrap().expect("an inventory");
    assert_eq!(inventory.source, dir.join("inventory.yaml"));
    assert_eq!(files.agent_configs.len(), AGENTS.len());
    for (agent, path) in AGENTS.iter().zip(&files.agent_configs) {
        assert_eq!(path, &dir.join(format!("agent-{}.yaml", agent.id)));
        let text = std::fs::read_to_string(path).unwrap();
        for needle in [
            format!("id: \"{}\"", agent.id),
            "url: \"https://127.0.0.1:17443\"".to_owned(),
            format!(
                "state_dir: {}",
                world::yaml_path(&dir.join("agent-state").join(agent.id))
            ),
            format!("key: {}", world::yaml_path(&layout.agent_key(agent.id))),
        ] {
            assert!(text.contains(&needle), "{needle} in\n{text}");
        }
        assert!(layout.agent_cert(agent.id).is_file(), "{}", agent.id);
        assert!(dir.join("agent-state").join(agent.id).is_dir());
    }
    let cut = std::fs::read_to_string(&files.agent_configs[2]).unwrap();
    assert!(cut.contains("target: \"127.0.0.1:17999\""), "{cut}");
}

#[tokio::test]
async fn the_held_port_refuses_connections_until_it_is_released() {
    let held = hold_closed_port(Ipv4Addr::LOCALHOST.into(), &[]).unwrap();
    let addr = held.local_addr().unwrap();
    assert_ne!(addr.port(), 0);
    // Another one never takes a port to avoid.
    let other = hold_closed_port(Ipv4Addr::LOCALHOST.into(), &[addr.port()]).unwrap();
    assert_ne!(other.local_addr().unwrap().port(), addr.port());
    let err = tokio::net::TcpStream::connect(addr).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    // Nobody else can take the port while the demo holds it.
    assert!(TcpListener::bind(addr).is_err());
    drop(held);
    assert!(TcpListener::bind(addr).is_ok());
}

#[test]
fn hosts_are_missing_until_their_up_series_shows() {
    let all: Vec<&str> = AGENTS.iter().map(|a| a.id).collect();
    assert_eq!(missing_hosts(""), all);
    let metrics = "zerofault_host_up{agent=\"zj-dsj-portal-01\",host=\"h\"} 1\n\
                   zerofault_host_info{agent=\"zj-gat-police-01\"} 1\n\
                   zerofault_host_up{agent=\"demo-agent\"} 0\n";
    assert_eq!(missing_hosts(metrics), &all[1..]);
}

#[test]
fn the_cut_is_found_in_the_api_answers() {
    let links = serde_json::json!({"links": [
        {"link": "adm-zj-hz", "state": "down"},
        {"link": CUT_LINK, "state": "up"},
    ]});
    assert!(!cut_listed(&links, "links", "state", "down"));
    let links = serde_json::json!({"links": [{"link": CUT_LINK, "state": "down"}]});
    assert!(cut_listed(&links, "links", "state", "down"));
    let faults = serde_json::json!({"faults": [{"link": CUT_LINK, "ongoing": true}]});
    assert!(cut_listed(&faults, "faults", "link", CUT_LINK));
    assert!(!cut_listed(
        &serde_json::json!({}),
        "faults",
        "link",
        CUT_LINK
    ));
}

#[test]
fn a_collector_certificate_for_another_address_is_reissued() {
    let dir = tempfile::tempdir().unwrap();
    let first: SocketAddr = "127.0.0.1:7443".parse().unwrap();
    let layout = make_certs(dir.path(), first).unwrap();
    assert!(cert_names_ip(&layout.collector_cert(), "127.0.0.1"));
    assert!(!cert_names_ip(&layout.collector_cert(), "127.0.0.2"));
    let second: SocketAddr = "127.0.0.2:7443".parse().unwrap();
    let layout = make_certs(dir.path(), second).unwrap();
    assert!(cert_names_ip(&layout.collector_cert(), "127.0.0.2"));
}
