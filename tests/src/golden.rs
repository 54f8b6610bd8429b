//! Golden files: an output compared byte for byte with a file kept in the repository.
//!
//! One switch rewrites them all: `ZEROFAULT_UPDATE_GOLDEN=1 cargo test ...` writes the
//! outputs instead of comparing them (review the change with `git diff` before committing
//! it). Without it, a missing or different file fails the test with the first line that
//! differs. The protocol's own golden bytes (`protocol/src/tests.rs`) follow the same switch.

use std::path::Path;

/// The environment variable that rewrites golden files when set to `1`.
pub const UPDATE_ENV: &str = "ZEROFAULT_UPDATE_GOLDEN";

/// Whether this run rewrites golden files (`ZEROFAULT_UPDATE_GOLDEN=1`).
pub fn updating() -> bool {
    std::env::var_os(UPDATE_ENV).is_some_and(|v| v == "1")
}

/// Compares `actual` with the golden file at `path`, or writes it (and its directory) when
/// [`updating`].
///
/// # Errors
///
/// When the file is missing or differs: a message naming the file, the first differing line
/// (golden, then now) and the switch.
pub fn compare(path: &Path, actual: &[u8]) -> Result<(), String> {
    if updating() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::write(path, actual).map_err(|e| format!("{}: {e}", path.display()))?;
        eprintln!("updated {}", path.display());
        return Ok(());
    }
    let want = std::fs::read(path).map_err(|e| {
        format!(
            "reading {}: {e}\nGenerate it with {UPDATE_ENV}=1 and review the diff",
            path.display()
        )
    })?;
    if want == actual {
        return Ok(());
    }
    Err(format!(
        "{} differs from the output\n{}\n\nIf the change is intended, rerun with {UPDATE_ENV}=1 \
         and review `git diff`.",
        path.display(),
        first_difference(&want, actual)
    ))
}

/// Panics with [`compare`]'s message unless `actual` equals the golden file at `path` (or
/// was written to it).
///
/// # Panics
///
/// When the file is missing or differs.
#[track_caller]
pub fn check(path: &Path, actual: impl AsRef<[u8]>) {
    if let Err(e) = compare(path, actual.as_ref()) {
        panic!("{e}");
    }
}

/// Where `want` and `got` part, by line.
fn first_difference(want: &[u8], got: &[u8]) -> String {
    let (want, got) = (String::from_utf8_lossy(want), String::from_utf8_lossy(got));
    want.lines()
        .zip(got.lines())
        .enumerate()
        .find(|(_, (w, g))| w != g)
        .map(|(i, (w, g))| {
            format!(
                "first difference at line {}:\n  golden: {w}\n  now:    {g}",
                i + 1
            )
        })
        .unwrap_or_else(|| {
            format!(
                "one is a prefix of the other ({} golden lines, {} now; {} and {} bytes)",
                want.lines().count(),
                got.lines().count(),
                want.len(),
                got.len()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_differing_line_is_shown() {
        let d = first_difference(b"a\nb\nc\n", b"a\nB\nc\n");
        assert!(
            d.contains("line 2") && d.contains("golden: b") && d.contains("now:    B"),
            "{d}"
        );
        let d = first_difference(b"a\n", b"a\nb\n");
        assert!(
            d.contains("prefix") && d.contains("1 golden lines, 2 now"),
            "{d}"
        );
    }

    #[test]
    fn a_missing_file_says_how_to_make_it() {
        if updating() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let e = compare(&dir.path().join("none.txt"), b"x").unwrap_err();
        assert!(e.contains(UPDATE_ENV), "{e}");
        std::fs::write(dir.path().join("same.txt"), b"x").unwrap();
        compare(&dir.path().join("same.txt"), b"x").unwrap();
    }
}
