//! The store's settings, `storage.*` of the collector's configuration: which backend keeps
//! the reports and where. The configuration only includes them; [`super::open`] opens what
//! they name.
//!
//! One backend is chosen: `storage.sqlite` (the default, one collector) or
//! `storage.postgres` (a PostgreSQL database, several collectors; docs/scale-out.md), never
//! both: [`Storage::problems`] refuses that by key, so a config cannot silently use the one
//! its author did not mean.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use serde::Deserialize;

pub use super::postgres::settings::{
    DEFAULT_POOL_SIZE, DEFAULT_WRITERS, Postgres, PostgresTls, TlsMode,
};

/// Default SQLite database path.
pub const DEFAULT_SQLITE_PATH: &str = "/var/lib/zerofault/collector/zerofault.db";

/// Storage backend (`storage.*`): at most one of the two keys.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Storage {
    /// SQLite settings; the backend when `postgres` is not set (with its defaults when
    /// neither is).
    #[serde(default)]
    pub sqlite: Option<Sqlite>,
    /// PostgreSQL settings: the backend when set.
    #[serde(default)]
    pub postgres: Option<Postgres>,
}

/// The chosen backend and its settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend<'a> {
    /// A SQLite file.
    Sqlite(&'a Sqlite),
    /// A PostgreSQL database.
    Postgres(&'a Postgres),
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

/// What a configuration without `storage` (or with `storage: {}`) uses.
static DEFAULT_SQLITE: LazyLock<Sqlite> = LazyLock::new(Sqlite::default);

impl Storage {
    /// SQLite at `path`.
    pub fn sqlite(path: impl Into<PathBuf>) -> Self {
        Self {
            sqlite: Some(Sqlite { path: path.into() }),
            postgres: None,
        }
    }

    /// The backend these settings choose: PostgreSQL when `storage.postgres` is set, SQLite
    /// (its defaults when `storage.sqlite` is not set either) otherwise. Both set is a
    /// problem ([`Storage::problems`]) that keeps the configuration from being used.
    pub fn backend(&self) -> Backend<'_> {
        match (&self.postgres, &self.sqlite) {
            (Some(pg), None) => Backend::Postgres(pg),
            (_, sqlite) => Backend::Sqlite(sqlite.as_ref().unwrap_or(&DEFAULT_SQLITE)),
        }
    }

    /// The SQLite file, when SQLite is the backend.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self.backend() {
            Backend::Sqlite(s) => Some(&s.path),
            Backend::Postgres(_) => None,
        }
    }

    /// Checks that need no file or network access; each problem goes to `problem` as its
    /// key and what to do, and the configuration adds its file (the same convention as the
    /// other components' settings).
    pub fn problems(&self, problem: &mut dyn FnMut(&'static str, String)) {
        if self.sqlite.is_some() && self.postgres.is_some() {
            problem(
                "storage.postgres",
                "is set together with storage.sqlite; keep the one backend this collector \
                 uses and remove the other"
                    .into(),
            );
        }
        if let Some(sqlite) = &self.sqlite
            && sqlite.path.as_os_str().is_empty()
        {
            problem(
                "storage.sqlite.path",
                "is empty; set it to a file path".into(),
            );
        }
        if let Some(pg) = &self.postgres {
            pg.problems(problem);
        }
    }

    /// The configured database when it does not exist yet, with the key that names it:
    /// commands that only read what the collector stored (`report`) say so instead of
    /// creating an empty database. A PostgreSQL database is made by its administrator, so it
    /// is never "missing" here (connecting says so if it is).
    pub fn missing_database(&self) -> Option<(&'static str, &Path)> {
        let path = self.sqlite_path()?;
        (!path.exists()).then_some(("storage.sqlite.path", path))
    }

    /// The file paths of the settings, to resolve relative ones against the configuration's
    /// directory.
    pub fn paths_mut(&mut self) -> impl Iterator<Item = &mut PathBuf> {
        let sqlite = self.sqlite.as_mut().map(|s| &mut s.path);
        let pg = self.postgres.iter_mut().flat_map(Postgres::paths_mut);
        sqlite.into_iter().chain(pg)
    }
}

/// Which store and where, for logs: `SQLite database PATH` or `PostgreSQL database
/// HOST:PORT/DB` (never the URL: it may carry a password). The one place that knows how to
/// name the configured backend, so a log line need not name a backend's key.
impl std::fmt::Display for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.backend() {
            Backend::Sqlite(s) => write!(f, "SQLite database {}", s.path.display()),
            Backend::Postgres(pg) => write!(f, "PostgreSQL database {}", pg.describe()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_storage_names_its_backend_and_file_for_logs() {
        let storage = Storage::sqlite("/var/lib/zerofault/collector/zerofault.db");
        assert_eq!(
            storage.to_string(),
            "SQLite database /var/lib/zerofault/collector/zerofault.db"
        );
        assert_eq!(
            Storage::default().to_string(),
            format!("SQLite database {DEFAULT_SQLITE_PATH}")
        );
        let pg = Storage {
            sqlite: None,
            postgres: Some(Postgres {
                url: "postgresql://zf:pw@db.example:6432/zerofault".into(),
                pool_size: DEFAULT_POOL_SIZE,
                writers: None,
                tls: PostgresTls::default(),
            }),
        };
        assert_eq!(
            pg.to_string(),
            "PostgreSQL database db.example:6432/zerofault"
        );
        assert!(matches!(pg.backend(), Backend::Postgres(_)));
        assert_eq!(pg.missing_database(), None);
    }

    #[test]
    fn both_backends_at_once_is_a_problem_of_storage_postgres() {
        let storage = Storage {
            sqlite: Some(Sqlite::default()),
            postgres: Some(Postgres {
                url: "postgresql://zf@db/zf".into(),
                pool_size: DEFAULT_POOL_SIZE,
                writers: None,
                tls: PostgresTls {
                    mode: TlsMode::Disable,
                    ..PostgresTls::default()
                },
            }),
        };
        let mut keys = Vec::new();
        storage.problems(&mut |k, _| keys.push(k));
        assert_eq!(keys, ["storage.postgres"]);
    }
}
