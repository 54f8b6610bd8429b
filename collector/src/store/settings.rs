//! The store's settings, `storage.*` of the collector's configuration: which backend keeps
//! the reports and where. The configuration only includes them; [`super::open`] opens what
//! they name.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Default SQLite database path.
pub const DEFAULT_SQLITE_PATH: &str = "/var/lib/zerofault/collector/zerofault.db";

/// Storage backend (`storage.*`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Storage {
    /// SQLite settings.
    #[serde(default)]
    pub sqlite: Sqlite,
}

/// SQLite settings (`storage.sqlite.*`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sqlite {
    /// Database file; its directory is created at start-up when missing.
    #[serde(default = "default_sqlite_path")]
    pub path: PathBuf,
}

impl Default for Sqlite {
    fn default() -> Self {
        Self {
            path: default_sqlite_path(),
        }
    }
}

fn default_sqlite_path() -> PathBuf {
    PathBuf::from(DEFAULT_SQLITE_PATH)
}

impl Storage {
    /// Checks that need no file access; each problem goes to `problem` as its key and what
    /// to do, and the configuration adds its file (the same convention as the other
    /// components' settings).
    pub fn problems(&self, problem: &mut dyn FnMut(&'static str, String)) {
        if self.sqlite.path.as_os_str().is_empty() {
            problem(
                "storage.sqlite.path",
                "is empty; set it to a file path".into(),
            );
        }
    }

    /// The configured database when it does not exist yet, with the key that names it:
    /// commands that only read what the collector stored (`report`) say so instead of
    /// creating an empty database.
    pub fn missing_database(&self) -> Option<(&'static str, &Path)> {
        let path = self.sqlite.path.as_path();
        (!path.exists()).then_some(("storage.sqlite.path", path))
    }
}

/// Which store and where, for logs: `SQLite database PATH`. The one place that knows how to
/// name the configured backend, so a log line need not name SQLite's key.
impl std::fmt::Display for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SQLite database {}", self.sqlite.path.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_storage_names_its_backend_and_file_for_logs() {
        let storage = Storage {
            sqlite: Sqlite {
                path: "/var/lib/zerofault/collector/zerofault.db".into(),
            },
        };
        assert_eq!(
            storage.to_string(),
            "SQLite database /var/lib/zerofault/collector/zerofault.db"
        );
    }
}
