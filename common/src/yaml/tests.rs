use super::*;

const DOC: &str = "\
# comment
listen:
  ingest: 0.0.0.0:7443
  http: 127.0.0.1:9464
limits:
  max_body_bytes: 1MiB

probes:
  - link: a
    kind: icmp
  - link: b
    target: 198.18.0.2
interval: 15s
";

#[test]
fn keys_by_line() {
    assert_eq!(key_path_at(DOC, 1), None);
    assert_eq!(key_path_at(DOC, 2).as_deref(), Some("listen"));
    assert_eq!(key_path_at(DOC, 4).as_deref(), Some("listen.http"));
    assert_eq!(
        key_path_at(DOC, 6).as_deref(),
        Some("limits.max_body_bytes")
    );
    assert_eq!(key_path_at(DOC, 9).as_deref(), Some("probes[0].link"));
    assert_eq!(key_path_at(DOC, 10).as_deref(), Some("probes[0].kind"));
    assert_eq!(key_path_at(DOC, 12).as_deref(), Some("probes[1].target"));
    assert_eq!(key_path_at(DOC, 13).as_deref(), Some("interval"));
}

#[test]
fn a_value_quoted_in_the_file_is_shown_as_written() {
    let doc = "limits:\n  max: \"lots\"\n  min: few\n";
    assert_eq!(value_at(doc, 2, 8), "\"lots\"");
    assert_eq!(value_at(doc, 3, 8), "\"few\"");
}

#[test]
fn flow_mapping_items_are_named_by_index() {
    let doc = "sites:\n  - {code: a, level: city}\n  - {code: b, level: village}\n";
    assert_eq!(key_path_at(doc, 3).as_deref(), Some("sites[1]"));
}

#[test]
fn unindented_sequences() {
    let doc = "probes:\n- link: a\n- link: b\n  kind: tcp\n";
    assert_eq!(key_path_at(doc, 3).as_deref(), Some("probes[1].link"));
    assert_eq!(key_path_at(doc, 4).as_deref(), Some("probes[1].kind"));
}

#[test]
fn problems_name_file_line_and_key() {
    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Limits {
        max_body_bytes: u64,
    }
    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        limits: Limits,
    }
    let text = "limits:\n  max_body_bytes: 1MiB\n";
    let err = serde_saphyr::from_str::<Doc>(text).unwrap_err();
    let p = ParseProblem::new(Path::new("c.yaml"), text, &err);
    let s = p.to_string();
    assert!(s.starts_with("c.yaml:2:"), "{s}");
    assert!(s.contains("key 'limits.max_body_bytes'"), "{s}");
    assert!(!s.contains("<input>"), "{s}");

    let text = "limits:\n  max_body_byte: 1\n";
    let err = serde_saphyr::from_str::<Doc>(text).unwrap_err();
    let s = ParseProblem::new(Path::new("c.yaml"), text, &err).to_string();
    assert!(s.contains("key 'limits.max_body_byte'"), "{s}");
    assert!(s.contains("unknown key"), "{s}");
    assert!(s.contains("did you mean `max_body_bytes`?"), "{s}");
}

#[derive(Debug, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Limits {
    #[serde(default)]
    max_body_bytes: u64,
    #[serde(default)]
    max: u64,
}
#[derive(Debug, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Hosts {
    #[serde(default)]
    down_after_intervals: u32,
}
#[derive(Debug, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Probe {
    #[serde(default)]
    link: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    target: String,
}
#[derive(Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc {
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    hosts: Hosts,
    #[serde(default)]
    probes: Vec<Probe>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    ratio: f64,
    required: String,
}

const BROKEN: &str = "\
required: x
limits:
  max_body_byts: 5
  max: lots   # a comment
hosts:
  down_after_intervals: three

probes:
  - link: a
    kind: [x]
    target: t
  - lnk: b
    target: u
name:
  a: 1
ratio: 0.5
ratio: 0.7
";

#[test]
fn parse_all_lists_every_problem_and_keeps_the_rest() {
    let parsed = parse_all::<Doc>(Path::new("c.yaml"), BROKEN);
    let lines: Vec<String> = parsed.problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "c.yaml:3:3: key 'limits.max_body_byts': unknown key; expected one of \
                 max_body_bytes, max; did you mean `max_body_bytes`? Fix the spelling or remove the key",
            "c.yaml:4:8: key 'limits.max': found \"lots\", expected a whole number from 0 to \
                 18446744073709551615, digits only, no unit or quotes; write it so",
            "c.yaml:6:25: key 'hosts.down_after_intervals': found \"three\", expected a whole \
                 number from 0 to 4294967295, digits only, no unit or quotes; write it so",
            "c.yaml:10:11: key 'probes[0].kind': found a list, expected one value on the \
                 key's line (a text, a path or an address); write it so",
            "c.yaml:12:5: key 'probes[1].lnk': unknown key; expected one of link, kind, \
                 target; did you mean `link`? Fix the spelling or remove the key",
            "c.yaml:15:3: key 'name': found a section, expected one value on the key's line \
                 (a text, a path or an address); write it so",
            "c.yaml:17:1: key 'ratio': is given twice; keep one of them",
        ]
    );
    // What parsed is kept; what was taken out has its default.
    let doc = parsed.value.expect("the rest parses");
    assert_eq!(doc.limits, Limits::default());
    assert_eq!(doc.hosts, Hosts::default());
    assert_eq!(
        doc.probes,
        [
            Probe {
                link: "a".into(),
                kind: String::new(),
                target: "t".into()
            },
            Probe {
                link: String::new(),
                kind: String::new(),
                target: "u".into()
            },
        ]
    );
    assert_eq!((doc.required.as_str(), doc.ratio), ("x", 0.5));
}

#[test]
fn a_missing_required_key_is_named_not_the_first_key_of_its_section() {
    let parsed = parse_all::<Doc>(Path::new("c.yaml"), "hosts:\n  down_after_intervals: 3\n");
    assert!(parsed.value.is_none());
    let lines: Vec<String> = parsed.problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        ["c.yaml:1:1: key 'required': is required and missing; add `required:`"]
    );
    // A wrong type is still listed before the search stops at the missing key.
    let parsed = parse_all::<Doc>(Path::new("c.yaml"), "hosts:\n  down_after_intervals: x\n");
    assert_eq!(parsed.problems.len(), 2, "{:?}", parsed.problems);
}

#[test]
fn a_syntax_error_is_named_and_the_search_goes_on() {
    let text = "required: x\nname: \"abc\nhosts:\n  down_after_intervals: q\n";
    let parsed = parse_all::<Doc>(Path::new("c.yaml"), text);
    let lines: Vec<String> = parsed.problems.iter().map(ToString::to_string).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0], "c.yaml:2:7: key 'name': unclosed quote");
    assert!(lines[1].starts_with("c.yaml:4:25: key 'hosts.down_after_intervals': found \"q\""));
    assert_eq!(parsed.value.map(|d| d.required), Some("x".to_owned()));
}

#[test]
fn the_search_is_bounded() {
    let mut text = String::from("required: x\n");
    for i in 0..(MAX_PARSE_PROBLEMS + 50) {
        text.push_str(&format!("typo{i}: 1\n"));
    }
    let parsed = parse_all::<Doc>(Path::new("c.yaml"), &text);
    assert_eq!(parsed.problems.len(), MAX_PARSE_PROBLEMS);
    assert!(parsed.value.is_none());
}

#[test]
fn value_problems_are_placed_at_their_key_or_its_section() {
    let text = "tls:\n  ca: ca.pem\n  cert: c.pem\nprobes:\n  - link: a\n    ca: x.pem\n";
    let at = |key: &str| ParseProblem::at_key(Path::new("c.yaml"), text, key, "m".into()).location;
    assert_eq!(at("tls.cert"), Some((3, 3)));
    assert_eq!(at("tls.key"), Some((1, 1)));
    assert_eq!(at("probes[0].ca"), Some((6, 5)));
    assert_eq!(at("spool.dir"), None);
    assert!(key_within("tls.ca", "tls") && key_within("probes[0].ca", "probes[0]"));
    assert!(!key_within("tlsx", "tls") && !key_within("tls", "tls.ca"));
}

#[test]
fn misspellings_are_matched_only_when_close() {
    assert_eq!(
        closest("max_body_byts", &["max_body_bytes", "max"]),
        Some("max_body_bytes")
    );
    assert_eq!(closest("stat_dir", &["id", "state_dir"]), Some("state_dir"));
    assert_eq!(closest("colour", &["id", "state_dir"]), None);
}
