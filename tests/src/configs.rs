//! Line-level edits of the example YAML configs in `configs/`.
//!
//! The test of the shipped examples must change only what cannot work on a test machine
//! (certificate paths) and keep everything else as shipped, comments included, so it edits
//! lines rather than re-serialising. This handles the block style the examples use: a
//! top-level `section:` line followed by `  key: value` lines indented under it.

/// The value of `key` in top-level `section`, without a trailing comment or quotes.
pub fn section_value(text: &str, section: &str, key: &str) -> Option<String> {
    let mut in_section = false;
    for line in text.lines() {
        if let Some(top) = top_level_key(line) {
            in_section = top == section;
            continue;
        }
        if in_section
            && let Some((k, v)) = nested_key_value(line)
            && k == key
        {
            return Some(unquote(strip_comment(v).trim()).to_string());
        }
    }
    None
}

/// `text` with the values of `section`'s keys replaced (indentation kept, trailing comment
/// dropped). Every key must be present in the section: a silently unchanged path would make
/// the test pass for the wrong reason.
pub fn set_section_values(
    text: &str,
    section: &str,
    values: &[(&str, &str)],
) -> anyhow::Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut in_section = false;
    let mut done = vec![false; values.len()];
    for line in text.lines() {
        if let Some(top) = top_level_key(line) {
            in_section = top == section;
        } else if in_section
            && let Some((k, _)) = nested_key_value(line)
            && let Some(i) = values.iter().position(|(key, _)| *key == k)
        {
            let indent = &line[..line.len() - line.trim_start().len()];
            let quoted = serde_json::to_string(values[i].1).expect("a string serialises");
            out.push_str(&format!("{indent}{k}: {quoted}\n"));
            done[i] = true;
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    let missing: Vec<&str> = values
        .iter()
        .zip(&done)
        .filter(|(_, d)| !**d)
        .map(|((k, _), _)| *k)
        .collect();
    anyhow::ensure!(
        missing.is_empty(),
        "keys {missing:?} not found under `{section}:`"
    );
    Ok(out)
}

/// `Some(key)` for a line `key:` at column 0 (a top-level mapping key).
fn top_level_key(line: &str) -> Option<&str> {
    if line.starts_with([' ', '\t', '#', '-']) || line.trim().is_empty() {
        return None;
    }
    line.split_once(':').map(|(k, _)| k.trim())
}

/// `Some((key, rest))` for an indented `key: rest` line.
fn nested_key_value(line: &str) -> Option<(&str, &str)> {
    if !line.starts_with([' ', '\t']) {
        return None;
    }
    let t = line.trim_start();
    if t.starts_with('#') {
        return None;
    }
    let (k, v) = t.split_once(':')?;
    Some((k.trim(), v))
}

fn strip_comment(v: &str) -> &str {
    // A YAML comment starts with " #"; quoted values in the examples contain none.
    match v.find(" #") {
        Some(i) => &v[..i],
        None => v,
    }
}

fn unquote(v: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = v.strip_prefix(q).and_then(|s| s.strip_suffix(q)) {
            return inner;
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    const AGENT: &str = "\
# example
agent:
  id: web-01        # must equal the cert CN
  state_dir: /var/lib/zerofault/agent
tls:
  ca: /etc/zerofault/ca.pem
  cert: \"/etc/zerofault/agent.pem\"
  key: /etc/zerofault/agent.key   # 0600
interval: 15s
";

    #[test]
    fn reads_values_in_a_section() {
        assert_eq!(
            section_value(AGENT, "agent", "id").as_deref(),
            Some("web-01")
        );
        assert_eq!(
            section_value(AGENT, "tls", "cert").as_deref(),
            Some("/etc/zerofault/agent.pem")
        );
        assert_eq!(section_value(AGENT, "tls", "id"), None);
        assert_eq!(section_value(AGENT, "interval", "x"), None);
    }

    #[test]
    fn rewrites_only_the_named_keys_of_the_section() {
        let out = set_section_values(
            AGENT,
            "tls",
            &[
                ("ca", "/t/ca.pem"),
                ("cert", "/t/a.pem"),
                ("key", "/t/a.key"),
            ],
        )
        .unwrap();
        assert_eq!(
            out,
            "# example\nagent:\n  id: web-01        # must equal the cert CN\n  state_dir: \
             /var/lib/zerofault/agent\ntls:\n  ca: \"/t/ca.pem\"\n  cert: \"/t/a.pem\"\n  key: \
             \"/t/a.key\"\ninterval: 15s\n"
        );
    }

    #[test]
    fn a_missing_key_is_an_error() {
        let err = set_section_values(AGENT, "agent", &[("id", "x"), ("ca", "y")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("ca"), "{err}");
    }
}
