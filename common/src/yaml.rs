//! Config parse errors that name the file, the line and the key.
//!
//! serde-saphyr knows the line and column of a problem but not the key path, and its message
//! carries a code snippet labelled `<input>`. Operators need `agent.yaml:13:19: key
//! 'limits.max_body_bytes': invalid u64`, so the key path is recovered from the text by
//! indentation: block-style YAML, which is what every zerofault config is.

use std::fmt;
use std::path::{Path, PathBuf};

/// A YAML document that could not be read into a config struct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseProblem {
    /// The config file.
    pub path: PathBuf,
    /// 1-based line and column, when known.
    pub location: Option<(u64, u64)>,
    /// Dotted key path at that line, e.g. `probes[2].target`, when it can be told.
    pub key: Option<String>,
    /// What is wrong, one line, without serde-saphyr's own location prefix or snippet.
    pub message: String,
}

impl ParseProblem {
    /// Builds the problem from a serde-saphyr error on `text` read from `path`.
    pub fn new(path: &Path, text: &str, err: &serde_saphyr::Error) -> Self {
        let location = err.location().map(|l| (l.line(), l.column()));
        let key = location.and_then(|(line, _)| key_path_at(text, line as usize));
        ParseProblem {
            path: path.to_owned(),
            location,
            key,
            message: first_line(&err.to_string()),
        }
    }
}

impl fmt::Display for ParseProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some((line, col)) = self.location {
            write!(f, ":{line}:{col}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": key '{key}'")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The first line of a serde-saphyr message without its "line L column C:" prefix (the
/// location is printed in `file:line:col` form instead).
fn first_line(full: &str) -> String {
    let first = full.lines().next().unwrap_or_default().trim();
    let first = first.strip_prefix("error:").unwrap_or(first).trim_start();
    let stripped = first
        .strip_prefix("line ")
        .and_then(|rest| rest.split_once(": "))
        .map(|(_, msg)| msg)
        .unwrap_or(first);
    stripped.trim().to_owned()
}

/// The dotted key path in effect at 1-based `line` of a block-style YAML document, with
/// sequence items as `[index]`; `None` when the line is outside the document or no key is
/// in effect there.
pub fn key_path_at(text: &str, line: usize) -> Option<String> {
    /// One level of the path: a key, or a sequence item with its index.
    struct Level {
        indent: usize,
        key: Option<String>,
        item: usize,
    }
    let mut stack: Vec<Level> = Vec::new();
    for raw in text.lines().take(line) {
        let content = raw.trim_start();
        if content.is_empty() || content.starts_with('#') || content.starts_with("---") {
            continue;
        }
        let mut indent = raw.len() - content.len();
        let mut rest = content;
        if let Some(after) = rest.strip_prefix("- ") {
            // An item belongs to the key above it, which may sit at the same indent
            // (`probes:` then `- link: a`), so only deeper keys and earlier items go.
            let mut next_item = 0;
            while let Some(top) = stack.last() {
                match top.key {
                    Some(_) if top.indent > indent => {}
                    None if top.indent >= indent => {
                        if top.indent == indent {
                            next_item = top.item + 1;
                        }
                    }
                    _ => break,
                }
                stack.pop();
            }
            stack.push(Level {
                indent,
                key: None,
                item: next_item,
            });
            let trimmed = after.trim_start();
            indent += 2 + after.len() - trimmed.len();
            rest = trimmed;
        } else {
            while stack.last().is_some_and(|top| top.indent >= indent) {
                stack.pop();
            }
        }
        if let Some((key, _)) = rest.split_once(':') {
            let key = key.trim().trim_matches(|c| c == '"' || c == '\'');
            // `- {code: a, ...}`: a flow mapping is the item itself, not a key.
            if !key.is_empty() && !key.contains(' ') && !key.starts_with(['{', '[']) {
                stack.push(Level {
                    indent,
                    key: Some(key.to_owned()),
                    item: 0,
                });
            }
        }
    }
    let mut out = String::new();
    for level in &stack {
        match &level.key {
            Some(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            None => out.push_str(&format!("[{}]", level.item)),
        }
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
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
        assert!(s.contains("unknown field"), "{s}");
    }
}
