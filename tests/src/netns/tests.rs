use super::*;

#[test]
fn effective_uid_is_the_second_uid() {
    assert_eq!(
        effective_uid("Name:\tx\nUid:\t1000\t0\t0\t0\nGid:\t1\t1\t1\t1\n"),
        Some(0)
    );
    assert_eq!(effective_uid("Name:\tx\n"), None);
}

#[test]
fn subnets_are_30s_of_198_18_0_0_15() {
    assert_eq!(
        subnet_addrs(0),
        (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2))
    );
    assert_eq!(
        subnet_addrs(SUBNETS - 1),
        (
            Ipv4Addr::new(198, 19, 255, 253),
            Ipv4Addr::new(198, 19, 255, 254)
        )
    );
}

#[test]
fn ipv6_subnets_are_64s_of_2001_2_0_0_48_numbered_as_the_30s() {
    let (root, ns) = subnet_addrs(SUBNETS - 1);
    assert_eq!(
        subnet6_addrs(root),
        (
            "2001:2:0:7fff::1".parse().unwrap(),
            "2001:2:0:7fff::2".parse().unwrap()
        )
    );
    assert_eq!(
        subnet6_addrs(subnet_addrs(0).0).1,
        "2001:2::2".parse::<Ipv6Addr>().unwrap()
    );
    let _ = ns;
}

#[test]
fn used_subnets_reads_ip_addr_show() {
    let out = "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever\n\
               6: zf1h0    inet 198.18.0.5/30 scope global zf1h0\\       valid_lft forever\n\
               7: zf1h1    inet 198.19.255.253/30 scope global zf1h1\n\
               8: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0\n";
    let used = used_subnets(out);
    assert_eq!(used.len(), 2, "{used:?}");
    assert!(used.contains(&1) && used.contains(&(SUBNETS - 1)));
}

#[test]
fn stale_namespaces_are_dead_pids_only() {
    let list = "zf-1-0 (id: 3)\nzf-2-1\nzf-test-1\nother\nzf-3-x\n";
    let stale = stale_namespaces(list, |pid| pid == 2);
    assert_eq!(stale, vec!["zf-1-0".to_string()]);
}

#[test]
fn nft_counters_of_one_table() {
    let json = r#"{"nftables": [{"metainfo": {"version": "1.0.6"}},
        {"table": {"family": "inet", "name": "zf_one", "handle": 2}},
        {"rule": {"family": "inet", "table": "zf_one", "chain": "input", "handle": 2,
          "expr": [{"match": {"op": "==", "left": {"numgen": {"mode": "inc", "mod": 10,
          "offset": 0}}, "right": 0}}, {"counter": {"packets": 1, "bytes": 84}},
          {"drop": null}]}},
        {"rule": {"family": "inet", "table": "zf_loss", "chain": "input", "handle": 3,
          "expr": [{"counter": {"packets": 7, "bytes": 84}}, {"drop": null}]}}]}"#;
    assert_eq!(nft_counter_packets(json, "zf_one").unwrap(), 1);
    assert_eq!(nft_counter_packets(json, "zf_loss").unwrap(), 7);
    assert_eq!(nft_counter_packets(json, "absent").unwrap(), 0);
}
