//! A wrong value in a config file, found after parsing (by a value check rather than by
//! serde): the one problem type of both binaries, with its file/line/key display.
//!
//! Parse problems (YAML syntax, unknown keys, wrong types) are [`ParseProblem`]s, placed at
//! their line by serde-saphyr. A value check knows the key but not the line;
//! [`add_at_lines`] places its problems at the line of their key in the text, so that
//! `validate` lists both kinds in the order of the file.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::yaml::{ParseProblem, key_within, one_per_line};

/// One wrong value in a configuration file (`K = &'static str`, a fixed dotted key) or in
/// a file whose keys are built from its entries (`K = String`, e.g. `probes[2].target`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem<K = &'static str> {
    /// The file.
    pub file: PathBuf,
    /// Dotted key, e.g. `tls.cert` or `links[2].to`.
    pub key: K,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl<K: fmt::Display> fmt::Display for Problem<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: `{}`: {}",
            self.file.display(),
            self.key,
            self.message
        )
    }
}

/// The problems one per line, each as `file: \`key\`: message` (the collector's config and
/// inventory errors).
#[derive(Debug, Clone, Copy)]
pub struct Problems<'a, K>(pub &'a [Problem<K>]);

impl<K: fmt::Display> fmt::Display for Problems<'_, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        one_per_line(f, self.0)
    }
}

/// The problems one per line, each as `file: key 'k': message`: a [`ParseProblem`] without
/// its line (the agent's config errors, which name keys as its parse problems do).
#[derive(Debug, Clone, Copy)]
pub struct QuotedKeyProblems<'a, K>(pub &'a [Problem<K>]);

impl<K: fmt::Display> fmt::Display for QuotedKeyProblems<'_, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        one_per_line(
            f,
            self.0
                .iter()
                .map(|p| quoted_key(&p.file, &p.key, &p.message)),
        )
    }
}

/// One problem as `file: key 'k': message` from its parts (an item of
/// [`QuotedKeyProblems`]), for an error that names a key without being a [`Problem`].
pub fn quoted_key<'a>(
    file: &'a Path,
    key: impl fmt::Display + 'a,
    message: impl fmt::Display + 'a,
) -> impl fmt::Display + 'a {
    QuotedKey { file, key, message }
}

struct QuotedKey<'a, K, M> {
    file: &'a Path,
    key: K,
    message: M,
}

impl<K: fmt::Display, M: fmt::Display> fmt::Display for QuotedKey<'_, K, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: key '{}': {}",
            self.file.display(),
            self.key,
            self.message
        )
    }
}

/// Adds the value problems `found` of the file `path` (whose text is `text`) to its parse
/// problems, each at the line of its key, and sorts them all in the order of the file
/// (problems with no line, such as a missing section, last). A value problem inside a key
/// that did not parse is left out: that key has its default now, and checking the default
/// would only repeat the key with a confusing message.
pub fn add_at_lines<K: AsRef<str>>(
    problems: &mut Vec<ParseProblem>,
    path: &Path,
    text: &str,
    found: impl IntoIterator<Item = Problem<K>>,
) {
    let reported: Vec<String> = problems.iter().filter_map(|p| p.key.clone()).collect();
    for p in found {
        let key = p.key.as_ref();
        if reported.iter().any(|r| key_within(key, r)) {
            continue;
        }
        problems.push(ParseProblem::at_key(path, text, key, p.message));
    }
    problems.sort_by_key(|p| p.location.map_or((u64::MAX, 0), |l| l));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(key: &'static str, message: &str) -> Problem {
        Problem {
            file: PathBuf::from("/etc/zerofault/a.yaml"),
            key,
            message: message.to_owned(),
        }
    }

    #[test]
    fn both_displays_name_file_and_key_one_per_line() {
        let list = [problem("tls.ca", "is required"), problem("x", "y")];
        assert_eq!(
            Problems(&list).to_string(),
            "/etc/zerofault/a.yaml: `tls.ca`: is required\n/etc/zerofault/a.yaml: `x`: y"
        );
        assert_eq!(
            QuotedKeyProblems(&list).to_string(),
            "/etc/zerofault/a.yaml: key 'tls.ca': is required\n/etc/zerofault/a.yaml: key 'x': y"
        );
    }

    #[test]
    fn value_problems_go_to_their_line_unless_their_key_did_not_parse() {
        let path = Path::new("a.yaml");
        let text = "agent:\n  id: x\ntls:\n  ca: c\n";
        let mut problems = vec![ParseProblem::at_key(path, text, "tls", "bad".into())];
        add_at_lines(
            &mut problems,
            path,
            text,
            [
                problem("tls.ca", "repeats tls"),
                problem("agent.id", "wrong"),
                problem("missing", "no line"),
            ],
        );
        let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "a.yaml:2:3: key 'agent.id': wrong",
                "a.yaml:3:1: key 'tls': bad",
                "a.yaml: key 'missing': no line"
            ]
        );
    }
}
