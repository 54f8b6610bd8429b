//! The source layout's two rules, checked on the tree itself (docs/architecture.md):
//!
//! - no import cycle between files of a crate: a file names another file's module by a path
//!   (`crate::a::b`, `super::x`, `self::child`, a child module's name, or a name a `use`
//!   bound, renamed or not) in a `use`, in code, or in an attribute string such as
//!   `deserialize_with = "super::time::parse"`; the strongly connected components of that
//!   graph must all be single files, parent and child included;
//! - no source file above [`MAX_LINES`] lines, outside test files (`tests.rs`, `tests/`).
//!
//! Comments and other string literals are skipped, so a doc comment naming `crate::config`
//! is not an import. A `mod child;` declaration is not an edge by itself (it is how a file
//! owns its children); using the child's items is. What it cannot see: paths a macro builds
//! (they count for the file that writes the macro) and names that arrive through a glob
//! import (they count for the module globbed); `#[path]` is refused, so the module tree is
//! where the files are.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The longest a source file may be (a test file aside): past it, a file holds more than one
/// idea and a newcomer cannot read it in one sitting.
const MAX_LINES: usize = 700;

/// The crates whose `src/` trees are checked (`tests` is the harness and test kit).
const CRATES: &[&str] = &[
    "protocol",
    "common",
    "agent",
    "agent/sys",
    "collector",
    "tests",
];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A test file: `tests.rs` or anything under a `tests/` directory inside `src/`.
fn is_test_file(relative: &Path) -> bool {
    relative.file_name().is_some_and(|n| n == "tests.rs")
        || relative.components().any(|c| c.as_os_str() == "tests")
}

/// The module path of a file relative to `src/`: `a/b.rs` and `a/b/mod.rs` are `["a", "b"]`,
/// `lib.rs` is `[]`. `main.rs` and `bin/` are binary roots of their own: `None`.
fn module_of(relative: &Path) -> Option<Vec<String>> {
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.first().is_some_and(|p| p == "bin") || parts == ["main.rs"] {
        return None;
    }
    let last = parts.pop().unwrap();
    let stem = last.strip_suffix(".rs").unwrap();
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_string());
    }
    Some(parts)
}

#[derive(Debug, PartialEq)]
enum Token {
    Ident(String),
    PathSep,
    Punct(char),
}

/// Identifiers, `::` and single punctuation; comments, strings, chars and lifetimes dropped.
fn tokens(source: &str) -> Vec<Token> {
    let chars: Vec<char> = source.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == 'r'
            && (next == Some('#') || next == Some('"'))
            && raw_string(&chars, i).is_some()
        {
            i = raw_string(&chars, i).unwrap();
        } else if c == 'b' && next == Some('"') {
            i = plain_string(&chars, i + 1);
        } else if c == 'b' && next == Some('r') && raw_string(&chars, i + 1).is_some() {
            i = raw_string(&chars, i + 1).unwrap();
        } else if c == '"' {
            // A string that is a crate path (`deserialize_with = "super::time::x"`) names
            // that module as surely as code does.
            let end = plain_string(&chars, i);
            let text: String = chars[i + 1..end.saturating_sub(1).max(i + 1)]
                .iter()
                .collect();
            if is_path_text(&text) {
                out.extend(tokens(&text));
            }
            i = end;
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
            if next == Some('\\') {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
            }
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Token::Ident(chars[start..i].iter().collect()));
        } else if c == ':' && next == Some(':') {
            out.push(Token::PathSep);
            i += 2;
        } else if c.is_ascii_digit() {
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '.')
            {
                i += 1;
            }
        } else {
            if !c.is_whitespace() {
                out.push(Token::Punct(c));
            }
            i += 1;
        }
    }
    out
}

/// Whether a string literal's text is a path inside the crate (`crate::…`, `super::…`,
/// `self::…`).
fn is_path_text(text: &str) -> bool {
    let mut parts = text.split("::");
    matches!(parts.next(), Some("crate" | "super" | "self"))
        && text.contains("::")
        && parts.all(|p| !p.is_empty() && p.chars().all(|c| c.is_alphanumeric() || c == '_'))
}

/// The index after a raw string starting at `i` (`r"…"`, `r#"…"#`), if one starts there.
fn raw_string(chars: &[char], i: usize) -> Option<usize> {
    let mut j = i + 1;
    let mut hashes = 0;
    while chars.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    if chars.get(j) != Some(&'"') {
        return None;
    }
    j += 1;
    while j < chars.len() {
        if chars[j] == '"' && (0..hashes).all(|k| chars.get(j + 1 + k) == Some(&'#')) {
            return Some(j + 1 + hashes);
        }
        j += 1;
    }
    Some(j)
}

/// The index after a `"…"` string whose opening quote is at `i`.
fn plain_string(chars: &[char], i: usize) -> usize {
    let mut j = i + 1;
    while j < chars.len() {
        match chars[j] {
            '\\' => j += 2,
            '"' => return j + 1,
            _ => j += 1,
        }
    }
    j
}

/// Every module path one file names, resolved to absolute paths (`crate` dropped): `use`
/// trees expanded, `super`/`self` resolved against the enclosing (inline) module, and paths
/// starting with a child module's name.
fn named_paths(source: &str, module: &[String], children: &BTreeSet<String>) -> Vec<Vec<String>> {
    let tokens = tokens(source);
    let mut out = Vec::new();
    // Names bound by `use` (`use crate::month::export;`, `use a::b as c;`): a later path
    // `export::pdf::x` starts from what the name stands for.
    let mut aliases: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // Inline modules (`mod tests { … }`) change what `super` and `self` mean.
    let mut scope: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        let here: Vec<String> = module
            .iter()
            .cloned()
            .chain(scope.iter().map(|(m, _)| m.clone()))
            .collect();
        match &tokens[i] {
            Token::Ident(kw) if kw == "mod" => {
                if let (Some(Token::Ident(name)), Some(Token::Punct('{'))) =
                    (tokens.get(i + 1), tokens.get(i + 2))
                {
                    depth += 1;
                    scope.push((name.clone(), depth));
                    i += 3;
                    continue;
                }
            }
            Token::Ident(kw) if kw == "use" => {
                let end = (i..tokens.len())
                    .find(|&j| tokens[j] == Token::Punct(';'))
                    .unwrap_or(tokens.len());
                let mut prefixes = Vec::new();
                expand_use(&tokens[i + 1..end], Vec::new(), &mut prefixes);
                for (path, alias) in prefixes {
                    if let Some(mut abs) = absolute(&path, &here, children, scope.is_empty()) {
                        out.push(abs.clone());
                        if abs.last().is_some_and(|l| l == "self") {
                            abs.pop();
                        }
                        let name = alias.or_else(|| {
                            path.iter()
                                .rev()
                                .find(|s| *s != "self" && *s != "*")
                                .cloned()
                        });
                        if let Some(name) = name
                            && path.last().is_none_or(|l| l != "*")
                        {
                            aliases.insert(name, abs);
                        }
                    }
                }
                i = end + 1;
                continue;
            }
            Token::Ident(first) if tokens.get(i + 1) == Some(&Token::PathSep) => {
                let preceded_by_sep = i > 0 && tokens[i - 1] == Token::PathSep;
                if !preceded_by_sep {
                    let mut path = vec![first.clone()];
                    let mut j = i + 1;
                    while tokens.get(j) == Some(&Token::PathSep) {
                        match tokens.get(j + 1) {
                            Some(Token::Ident(seg)) => path.push(seg.clone()),
                            _ => break,
                        }
                        j += 2;
                    }
                    let resolved =
                        absolute(&path, &here, children, scope.is_empty()).or_else(|| {
                            let base = aliases.get(first)?;
                            Some(base.iter().chain(&path[1..]).cloned().collect())
                        });
                    if let Some(abs) = resolved {
                        out.push(abs);
                    }
                    i = j;
                    continue;
                }
            }
            Token::Punct('{') => depth += 1,
            Token::Punct('}') => {
                if scope.last().is_some_and(|(_, d)| *d == depth) {
                    scope.pop();
                }
                depth = depth.saturating_sub(1);
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// The paths of a `use` tree (`a::{b, c::{d, e}}`), each as its segments with the name it
/// is bound to when renamed (`as`).
fn expand_use(tokens: &[Token], prefix: Vec<String>, out: &mut Vec<(Vec<String>, Option<String>)>) {
    let mut path = prefix.clone();
    let mut alias = None;
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i] {
            Token::Ident(seg) if seg == "as" => {
                if let Some(Token::Ident(name)) = tokens.get(i + 1) {
                    alias = Some(name.clone());
                }
                i += 2;
                continue;
            }
            Token::Ident(seg) => path.push(seg.clone()),
            Token::PathSep => {}
            Token::Punct('{') => {
                // The group runs to its matching brace; its items are split at top-level commas.
                let mut depth = 0;
                let mut j = i;
                let mut start = i + 1;
                while j < tokens.len() {
                    match tokens[j] {
                        Token::Punct('{') => depth += 1,
                        Token::Punct('}') => {
                            depth -= 1;
                            if depth == 0 {
                                expand_use(&tokens[start..j], path.clone(), out);
                                break;
                            }
                        }
                        Token::Punct(',') if depth == 1 => {
                            expand_use(&tokens[start..j], path.clone(), out);
                            start = j + 1;
                        }
                        _ => {}
                    }
                    j += 1;
                }
                return;
            }
            Token::Punct('*') => path.push("*".to_owned()),
            Token::Punct(_) => {}
        }
        i += 1;
    }
    if path.len() > prefix.len() || !prefix.is_empty() {
        out.push((path, alias));
    }
}

/// A path made absolute within the crate, or `None` for another crate's path.
fn absolute(
    path: &[String],
    here: &[String],
    children: &BTreeSet<String>,
    at_file_level: bool,
) -> Option<Vec<String>> {
    let (first, rest) = path.split_first()?;
    match first.as_str() {
        "crate" => Some(rest.to_vec()),
        "self" => Some(here.iter().cloned().chain(rest.iter().cloned()).collect()),
        "super" => {
            let mut base = here.to_vec();
            base.pop();
            let mut rest = rest;
            while rest.first().is_some_and(|s| s == "super") {
                base.pop();
                rest = &rest[1..];
            }
            Some(base.into_iter().chain(rest.iter().cloned()).collect())
        }
        name if at_file_level && children.contains(name) => {
            Some(here.iter().cloned().chain(path.iter().cloned()).collect())
        }
        _ => None,
    }
}

struct CrateFiles {
    /// Module path -> file (relative to the workspace).
    modules: BTreeMap<Vec<String>, PathBuf>,
    sources: BTreeMap<PathBuf, String>,
}

fn crate_files(name: &str) -> CrateFiles {
    let src = workspace_root().join(name).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut modules = BTreeMap::new();
    let mut sources = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap();
        let Some(module) = module_of(relative) else {
            continue;
        };
        let shown = Path::new(name).join("src").join(relative);
        sources.insert(shown.clone(), std::fs::read_to_string(&file).unwrap());
        modules.insert(module, shown);
    }
    CrateFiles { modules, sources }
}

/// File -> the files it names.
fn import_graph(files: &CrateFiles) -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    let by_file: BTreeMap<&PathBuf, &Vec<String>> =
        files.modules.iter().map(|(m, f)| (f, m)).collect();
    let mut graph = BTreeMap::new();
    for (file, source) in &files.sources {
        let module = by_file[file];
        let children: BTreeSet<String> = files
            .modules
            .keys()
            .filter(|m| m.len() == module.len() + 1 && m.starts_with(module))
            .map(|m| m.last().unwrap().clone())
            .collect();
        let mut targets = BTreeSet::new();
        for path in named_paths(source, module, &children) {
            // The longest prefix that is a file's module is the file named.
            let target = (0..=path.len())
                .rev()
                .find_map(|n| files.modules.get(&path[..n]));
            if let Some(target) = target
                && target != file
            {
                targets.insert(target.clone());
            }
        }
        graph.insert(file.clone(), targets);
    }
    graph
}

/// Strongly connected components with more than one file (Tarjan).
fn cycles(graph: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Vec<Vec<PathBuf>> {
    struct State<'a> {
        graph: &'a BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        index: BTreeMap<&'a PathBuf, usize>,
        low: BTreeMap<&'a PathBuf, usize>,
        stack: Vec<&'a PathBuf>,
        on_stack: BTreeSet<&'a PathBuf>,
        out: Vec<Vec<PathBuf>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a PathBuf) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in &s.graph[v] {
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[w].min(s.low[v]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.index[w].min(s.low[v]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            loop {
                let w = s.stack.pop().unwrap();
                s.on_stack.remove(w);
                component.push(w.clone());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.out.push(component);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !state.index.contains_key(v) {
            visit(&mut state, v);
        }
    }
    state.out
}

#[test]
fn no_import_cycle_between_files() {
    let mut problems = Vec::new();
    for name in CRATES {
        let files = crate_files(name);
        let graph = import_graph(&files);
        for component in cycles(&graph) {
            let mut text = format!("cycle of {} files in {name}:", component.len());
            for file in &component {
                let inside: Vec<String> = graph[file]
                    .iter()
                    .filter(|t| component.contains(t))
                    .map(|t| t.display().to_string())
                    .collect();
                text.push_str(&format!("\n  {} -> {}", file.display(), inside.join(", ")));
            }
            problems.push(text);
        }
    }
    for name in CRATES {
        for (file, source) in crate_files(name).sources {
            // The module tree is read from where files sit; `#[path]` would move a module
            // where this check does not look.
            if source.contains("#[path") {
                problems.push(format!(
                    "{}: #[path] is not used in this workspace",
                    file.display()
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "import cycles (break each by moving the shared item down a level):\n{}",
        problems.join("\n")
    );
}

#[test]
fn no_source_file_above_the_line_limit() {
    let mut long = Vec::new();
    for name in CRATES {
        let files = crate_files(name);
        for (file, source) in &files.sources {
            let relative = file.strip_prefix(Path::new(name).join("src")).unwrap();
            let lines = source.lines().count();
            if !is_test_file(relative) && lines > MAX_LINES {
                long.push(format!("{}: {lines} lines", file.display()));
            }
        }
    }
    assert!(
        long.is_empty(),
        "files above {MAX_LINES} lines (split by idea, tests into a sibling tests.rs):\n{}",
        long.join("\n")
    );
}

/// The checker itself: a cycle is found; `use` trees, renames, names bound by `use`,
/// `super::`, a child's name and paths in attribute strings are edges; comments, other
/// strings and another crate's paths are not.
#[test]
fn the_checker_finds_a_known_cycle_and_reads_paths_as_rustc_does() {
    let children: BTreeSet<String> = ["child".to_string()].into();
    let module = vec!["a".to_string()];
    let source = r#"
        // crate::config::Thing in a comment
        /// crate::other in a doc comment
        const S: &str = "see crate::strings::X";
        use std::fmt;
        use crate::{b::{C, d::E as F}, g};
        use crate::month::export::{self};
        pub use child::Item;
        #[serde(deserialize_with = "super::time::parse")]
        fn f<'a>(x: &'a str) -> char { super::h::run(); export::pdf::render(); F::new(); 'x' }
        #[cfg(test)]
        mod tests { use super::*; }
    "#;
    let paths = named_paths(source, &module, &children);
    let expected: Vec<Vec<String>> = vec![
        vec!["b", "C"],
        vec!["b", "d", "E"],
        vec!["g"],
        vec!["month", "export", "self"],
        vec!["a", "child", "Item"],
        vec!["time", "parse"],
        vec!["h", "run"],
        vec!["month", "export", "pdf", "render"],
        vec!["b", "d", "E", "new"],
        vec!["a", "*"],
    ]
    .into_iter()
    .map(|p| p.into_iter().map(String::from).collect())
    .collect();
    assert_eq!(paths, expected);

    let graph: BTreeMap<PathBuf, BTreeSet<PathBuf>> = [
        ("a.rs", vec!["b.rs"]),
        ("b.rs", vec!["c.rs"]),
        ("c.rs", vec!["a.rs"]),
        ("d.rs", vec!["a.rs"]),
    ]
    .into_iter()
    .map(|(f, ts)| {
        (
            PathBuf::from(f),
            ts.into_iter().map(PathBuf::from).collect(),
        )
    })
    .collect();
    assert_eq!(
        cycles(&graph),
        vec![vec![
            PathBuf::from("a.rs"),
            PathBuf::from("b.rs"),
            PathBuf::from("c.rs")
        ]]
    );
}
