//! Config problems that name the file, the line, the key, what was expected and the fix.
//!
//! serde-saphyr knows the line and column of a problem but not the key path, and its message
//! carries a code snippet labelled `<input>` and Rust words (`invalid u32`). Operators need
//! `agent.yaml:13:19: key 'spool.max_bytes': expected a whole number from 0 to ...`, so the
//! key path is recovered from the text by indentation (block-style YAML, which is what every
//! zerofault config is) and the message is translated ([`operator_words`]).
//!
//! serde stops at the first problem; [`parse_all`] finds them all: it takes the offending
//! key out of the text and parses again, so one `validate` run lists every unknown key and
//! wrong type, and the value checks still run on what did parse.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// Most problems [`parse_all`] collects before it stops: each costs one parse of the file.
pub const MAX_PARSE_PROBLEMS: usize = 100;

/// Parse problems one per line: the message of a config error with several of them (both
/// binaries' `validate`).
#[derive(Debug, Clone, Copy)]
pub struct ParseProblems<'a>(pub &'a [ParseProblem]);

impl fmt::Display for ParseProblems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        one_per_line(f, self.0)
    }
}

/// `items` one per line, without a newline after the last: how every list of problems is
/// shown (parse problems here, value problems in `crate::problem`).
pub fn one_per_line<T: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    items: impl IntoIterator<Item = T>,
) -> fmt::Result {
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            writeln!(f)?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

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
        let raw = first_line(&err.to_string());
        let (key, message) = match location {
            Some((line, col)) => {
                let key = key_for_error(text, line as usize, col as usize, &raw);
                let found = value_at(text, line as usize, col as usize);
                (key, operator_words(&raw, &found))
            }
            None => (None, raw),
        };
        ParseProblem {
            path: path.to_owned(),
            location,
            key,
            message,
        }
    }

    /// A problem found after parsing (a value check) with `key`, placed at the line of that
    /// key in `text`, or of its nearest enclosing key that is written (a missing `tls.cert`
    /// is shown at `tls:`), or at no line when none is.
    pub fn at_key(path: &Path, text: &str, key: &str, message: String) -> Self {
        let mut probe = key;
        let location = loop {
            if let Some(loc) = key_location(text, probe) {
                break Some(loc);
            }
            match probe.rfind(['.', '[']) {
                Some(i) => probe = &probe[..i],
                None => break None,
            }
        };
        ParseProblem {
            path: path.to_owned(),
            location,
            key: Some(key.to_owned()),
            message,
        }
    }
}

/// Whether `key` is `prefix` or lies inside it (`tls.cert` inside `tls`, `probes[1].kind`
/// inside `probes[1]`), so a value check does not repeat a key a parse problem already named.
pub fn key_within(key: &str, prefix: &str) -> bool {
    key == prefix
        || key
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with(['.', '[']))
}

/// Every problem of a document and what could be read despite them ([`parse_all`]).
#[derive(Debug)]
pub struct Parsed<T> {
    /// The document with every offending key left out (so those keys take their defaults);
    /// `None` when a required key is missing or the problems reached [`MAX_PARSE_PROBLEMS`].
    pub value: Option<T>,
    /// Every problem found, in the order of the file.
    pub problems: Vec<ParseProblem>,
}

/// Parses `text` (read from `path`) into `T`, collecting every unknown key, wrong type and
/// duplicate key rather than stopping at the first: after each error the offending key (and
/// what is nested under it) is taken out of the text and the rest parsed again, at most
/// [`MAX_PARSE_PROBLEMS`] times. Locations and key paths are those of the original text.
/// A line with a YAML syntax error is taken out like a wrong value. A missing required key
/// ends the search: nothing can be taken out to get past it.
pub fn parse_all<T: DeserializeOwned>(path: &Path, text: &str) -> Parsed<T> {
    // The document being parsed, line by line, with each line's number in `text`.
    let mut lines: Vec<(usize, String)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.to_owned()))
        .collect();
    let mut problems: Vec<ParseProblem> = Vec::new();
    loop {
        let mut current: String = lines.iter().map(|(_, l)| format!("{l}\n")).collect();
        if lines.iter().all(|(_, l)| is_blank(l)) {
            // Nothing left (or nothing written): an empty mapping, so that the defaults
            // apply and required keys are named, rather than "unexpected end of input".
            current = "{}\n".into();
            if let Err(e) = serde_saphyr::from_str::<T>(&current) {
                let raw = first_line(&e.to_string());
                problems.push(ParseProblem {
                    path: path.to_owned(),
                    location: None,
                    key: field_named(&raw, "missing field `").map(str::to_owned),
                    message: operator_words(&raw, ""),
                });
                break;
            }
        }
        let err = match serde_saphyr::from_str::<T>(&current) {
            Ok(value) => {
                return Parsed {
                    value: Some(value),
                    problems,
                };
            }
            Err(e) => e,
        };
        let raw = first_line(&err.to_string());
        let Some((line, col)) = err
            .location()
            .map(|l| (l.line() as usize, l.column() as usize))
            .filter(|&(line, _)| (1..=lines.len()).contains(&line))
        else {
            problems.push(ParseProblem {
                path: path.to_owned(),
                location: None,
                key: None,
                message: raw,
            });
            break;
        };
        let original_line = lines[line - 1].0;
        let key = key_for_error(text, original_line, col, &raw);
        let problem = ParseProblem {
            path: path.to_owned(),
            location: Some((original_line as u64, col as u64)),
            key: key.clone(),
            message: operator_words(&raw, &value_at(&current, line, col)),
        };
        // A required key taken out by an earlier round is now "missing": already reported.
        let repeated = key.as_deref().is_some_and(|k| {
            problems
                .iter()
                .filter_map(|p| p.key.as_deref())
                .any(|done| key_within(k, done))
        });
        if !repeated {
            problems.push(problem);
        }
        let removable = !raw.starts_with("missing field") && problems.len() < MAX_PARSE_PROBLEMS;
        if !removable || !take_out(&mut lines, line, col, &raw) {
            break;
        }
    }
    Parsed {
        value: None,
        problems,
    }
}

/// Leading spaces of a line.
fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// Whether a line carries no YAML content.
fn is_blank(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

/// Column (0-based) where the key of a line starts, after a `- ` item marker, and whether
/// the line has a key (`name:`) there.
fn key_start(line: &str) -> (usize, bool) {
    let mut col = indent_of(line);
    let mut rest = &line[col..];
    while let Some(after) = rest.strip_prefix("- ") {
        let t = after.trim_start_matches(' ');
        col += rest.len() - t.len();
        rest = t;
    }
    let has_key = rest.split_once(':').is_some_and(|(k, v)| {
        !k.is_empty()
            && !k.starts_with(['{', '[', '"', '\''])
            && !k.contains(' ')
            && (v.is_empty() || v.starts_with(' '))
    });
    (col, has_key)
}

/// Takes the key that an error at 1-based `line`, `col` is about out of `lines`, with what
/// is nested under it. Returns false when nothing could be taken out (the parse would only
/// fail the same way again).
fn take_out(lines: &mut Vec<(usize, String)>, line: usize, col: usize, raw: &str) -> bool {
    let at = line - 1;
    let (kcol, has_key) = key_start(&lines[at].1);
    // Unknown and duplicate keys are located at the key itself. A wrong value is located at
    // the value: on the key's line, or at the start of a block below it, whose key is the
    // nearest line above with less indent.
    let about_key = raw.starts_with("unknown field") || raw.starts_with("duplicate mapping key");
    let is_item_line = kcol > indent_of(&lines[at].1);
    let owner = if about_key || (has_key && col > kcol + 1) || (!has_key && is_item_line) {
        at
    } else {
        let own = indent_of(&lines[at].1);
        match (0..at)
            .rev()
            .find(|&i| !is_blank(&lines[i].1) && key_start(&lines[i].1).0 < own)
        {
            Some(i) => i,
            None => return false,
        }
    };
    let (kcol, _) = key_start(&lines[owner].1);
    let indent = indent_of(&lines[owner].1);
    let is_item = kcol > indent;
    // The block under the key: every following line indented deeper than the key.
    let mut end = owner + 1;
    while end < lines.len() && (is_blank(&lines[end].1) || indent_of(&lines[end].1) > kcol) {
        end += 1;
    }
    // Trailing comments and blank lines belong to what follows.
    while end > owner + 1 && is_blank(&lines[end - 1].1) {
        end -= 1;
    }
    // `- key: v` whose item has more keys below (at the key's column): keep the item, as
    // `-` followed by its other keys.
    let siblings = lines[owner + 1..]
        .iter()
        .find(|(_, l)| !is_blank(l))
        .is_some_and(|(_, l)| indent_of(l) == kcol && !l.trim_start().starts_with("- "));
    if is_item && siblings {
        let dash = format!("{}-", " ".repeat(indent));
        if lines[owner].1 == dash && end == owner + 1 {
            return false;
        }
        lines[owner].1 = dash;
        lines.drain(owner + 1..end);
        return true;
    }
    lines.drain(owner..end);
    drop_emptied_parents(lines, owner, indent);
    true
}

/// After lines were taken out at `at` (their indent `indent`), takes out the keys above
/// that are left with nothing under them: `limits:` whose only key was a typo would
/// otherwise read as an empty value and be reported as a wrong type.
fn drop_emptied_parents(lines: &mut Vec<(usize, String)>, mut at: usize, mut indent: usize) {
    loop {
        let Some(parent) = (0..at)
            .rev()
            .find(|&i| !is_blank(&lines[i].1) && key_start(&lines[i].1).0 < indent)
        else {
            return;
        };
        let (pcol, has_key) = key_start(&lines[parent].1);
        let opens_block = lines[parent].1.trim_end().ends_with(':');
        let has_content = lines[parent + 1..]
            .iter()
            .find(|(_, l)| !is_blank(l))
            .is_some_and(|(_, l)| {
                indent_of(l) > pcol || (indent_of(l) == pcol && l.trim_start().starts_with("- "))
            });
        if !has_key || !opens_block || has_content {
            return;
        }
        indent = indent_of(&lines[parent].1);
        let is_item = pcol > indent;
        if is_item {
            // `- key:` left empty: the key goes, the item stays if it has other keys.
            lines[parent].1 = format!("{}-", " ".repeat(indent));
            return;
        }
        lines.remove(parent);
        at = parent;
    }
}

/// The key path an error at 1-based `line` of `text` is about. For a missing field that is
/// the field inside the mapping the error points into (serde-saphyr places it at the
/// mapping's first key, which is not the culprit); for an unknown field written inside a
/// flow mapping (`{a: 1, typo: 2}`), the field inside the key of the line.
fn key_for_error(text: &str, line: usize, col: usize, raw: &str) -> Option<String> {
    let mut at_line = key_path_at(text, line);
    let (kcol, has_key) = text.lines().nth(line - 1).map_or((0, false), key_start);
    let about_key = raw.starts_with("unknown field") || raw.starts_with("duplicate mapping key");
    if !about_key && has_key && col == kcol + 1 {
        // A wrong value that is a block below its key: the error points at the block's
        // first key, the culprit is the key above.
        at_line = at_line.map(|p| p.rfind('.').map_or(String::new(), |i| p[..i].to_owned()));
        at_line = at_line.filter(|p| !p.is_empty());
    }
    let join = |parent: Option<&str>, field: &str| match parent {
        Some(p) if !p.is_empty() => format!("{p}.{field}"),
        _ => field.to_owned(),
    };
    if let Some(field) = field_named(raw, "missing field `") {
        let parent = at_line
            .as_deref()
            .map(|p| p.rfind('.').map_or("", |i| &p[..i]));
        return Some(join(parent, field));
    }
    if let Some(field) = field_named(raw, "unknown field `") {
        let last = at_line
            .as_deref()
            .map(|p| p.rsplit(['.']).next().unwrap_or(p));
        if last.is_some_and(|l| l != field && !l.ends_with(']')) {
            return Some(join(at_line.as_deref(), field));
        }
    }
    at_line
}

/// The name in backquotes after `prefix` in a serde message.
fn field_named<'a>(raw: &'a str, prefix: &str) -> Option<&'a str> {
    raw.strip_prefix(prefix)?.split('`').next()
}

/// The value written at 1-based `line`, `col` of `text` (to the end of the line, without a
/// trailing comment), quoted for a message; `a section` or `a list` for a block below.
fn value_at(text: &str, line: usize, col: usize) -> String {
    let Some(l) = text.lines().nth(line.saturating_sub(1)) else {
        return String::new();
    };
    let rest = l.get(col.saturating_sub(1)..).unwrap_or_default();
    let rest = rest.split(" #").next().unwrap_or_default().trim();
    let (kcol, has_key) = key_start(l);
    if rest.starts_with('{') || (has_key && col <= kcol + 1) {
        "a section".into()
    } else if rest.starts_with('[') || rest.starts_with("- ") || rest == "-" {
        "a list".into()
    } else if rest.len() >= 2
        && ((rest.starts_with('"') && rest.ends_with('"'))
            || (rest.starts_with('\'') && rest.ends_with('\'')))
    {
        // Already quoted in the file: show it as written, not quoted again.
        rest.to_owned()
    } else {
        format!("{rest:?}")
    }
}

/// serde-saphyr's message in an operator's words: what was found, what was expected and
/// what to do. Messages from zerofault's own deserializers (durations, addresses) already
/// say that and pass unchanged.
pub fn operator_words(raw: &str, found: &str) -> String {
    let found = if found.is_empty() { "nothing" } else { found };
    if let Some(ty) = raw.strip_prefix("invalid ") {
        let expected = match ty {
            "u8" => format!("a whole number from 0 to {}", u8::MAX),
            "u16" => format!("a whole number from 0 to {}", u16::MAX),
            "u32" => format!("a whole number from 0 to {}", u32::MAX),
            "u64" | "usize" => format!("a whole number from 0 to {}", u64::MAX),
            "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number".to_owned(),
            "floating point" => "a number, like 0.5 or 2".to_owned(),
            "boolean" => "true or false".to_owned(),
            _ => return raw.to_owned(),
        };
        let digits = if ty.starts_with(['u', 'i']) {
            ", digits only, no unit or quotes"
        } else {
            ""
        };
        return format!("found {found}, expected {expected}{digits}; write it so");
    }
    if let Some(what) = raw.strip_prefix("expected ") {
        let expected = match what {
            "string scalar" => "one value on the key's line (a text, a path or an address)",
            "sequence start" => "a list: one `- item` line per entry, or [a, b]",
            "mapping start" => "a section: `key: value` lines indented below the key",
            _ => return raw.to_owned(),
        };
        return format!("found {found}, expected {expected}; write it so");
    }
    if let Some(field) = field_named(raw, "unknown field `") {
        let known: Vec<&str> = raw
            .split_once(", expected one of ")
            .or_else(|| raw.split_once(", expected "))
            .map(|(_, list)| list.split(", ").map(|k| k.trim_matches('`')).collect())
            .unwrap_or_default();
        if known.is_empty() {
            return "unknown key; this section takes no keys: remove it".to_owned();
        }
        let hint = closest(field, &known)
            .map(|k| format!("did you mean `{k}`? Fix the spelling or remove the key"))
            .unwrap_or_else(|| "remove it or fix its spelling".to_owned());
        return format!("unknown key; expected one of {}; {hint}", known.join(", "));
    }
    if let Some(field) = field_named(raw, "missing field `") {
        return format!("is required and missing; add `{field}:`");
    }
    if raw.starts_with("duplicate mapping key") {
        return "is given twice; keep one of them".to_owned();
    }
    raw.to_owned()
}

/// The known key nearest to a misspelt one, if it is near enough to be the intended one.
fn closest<'a>(typo: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (edit_distance(typo, k), *k))
        .filter(|&(d, k)| d <= (k.len() / 3).max(1))
        .min()
        .map(|(_, k)| k)
}

/// Levenshtein distance over characters; keys are short, so O(n*m) is nothing.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// 1-based line and column of the first line of `text` where the dotted `key` is written.
pub fn key_location(text: &str, key: &str) -> Option<(u64, u64)> {
    for (i, line) in text.lines().enumerate() {
        let (col, has_key) = key_start(line);
        if has_key && key_path_at(text, i + 1).as_deref() == Some(key) {
            return Some((i as u64 + 1, col as u64 + 1));
        }
    }
    None
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
mod tests;
