//! What an export is asked for (format, language) and why it fails: the leaf every export
//! writer uses.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// Export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Format {
    /// One CSV file per table (UTF-8 with BOM).
    Csv,
    /// The full model, pretty JSON.
    Json,
    /// One workbook, one sheet per table.
    Xlsx,
    /// One self-contained, print-ready page.
    Html,
    /// A4 PDF, made on the collector (needs a CJK font, see --pdf-font).
    Pdf,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 5] = [
        Format::Csv,
        Format::Json,
        Format::Xlsx,
        Format::Html,
        Format::Pdf,
    ];

    /// The name on the command line and the file extension.
    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Xlsx => "xlsx",
            Format::Html => "html",
            Format::Pdf => "pdf",
        }
    }

    /// The HTTP `Content-Type` of one file of this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Json => "application/json",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Format::Html => "text/html; charset=utf-8",
            Format::Pdf => "application/pdf",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = ExportError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| ExportError::UnknownFormat(s.to_string()))
    }
}

/// Language of headers and texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Lang {
    /// English.
    #[value(name = "en")]
    En,
    /// Simplified Chinese.
    #[value(name = "zh-CN")]
    ZhCn,
}

impl Lang {
    /// The BCP 47 tag: `en` or `zh-CN` (also the model's `lang` and HTML's `lang`).
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::ZhCn => "zh-CN",
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

impl FromStr for Lang {
    type Err = ExportError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Tags are case-insensitive (BCP 47); `zh_CN` is the common locale spelling.
        match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "en" => Ok(Lang::En),
            "zh-cn" => Ok(Lang::ZhCn),
            _ => Err(ExportError::UnknownLang(s.to_string())),
        }
    }
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Writing a file or creating the output directory failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The report's time zone is not in the tz database.
    #[error("time zone {zone:?}: {reason}")]
    TimeZone {
        /// The zone name.
        zone: String,
        /// The cause.
        reason: String,
    },
    /// An instant of the report is outside the representable range.
    #[error("time {unix_ms} ms: {reason}")]
    Time {
        /// The instant.
        unix_ms: i64,
        /// The cause.
        reason: String,
    },
    /// Serialising JSON failed.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Writing CSV failed.
    #[error("CSV table {table}: {reason}")]
    Csv {
        /// The table.
        table: &'static str,
        /// The cause.
        reason: String,
    },
    /// Building the workbook failed.
    #[error("XLSX: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    /// Rendering the HTML template failed.
    #[error("HTML template: {0}")]
    Template(#[from] askama::Error),
    /// The PDF font is missing, unreadable, or lacks a character of the report.
    #[error("PDF font: {message}")]
    Font {
        /// What is wrong, the paths tried and the fix.
        message: String,
    },
    /// Writing the PDF failed.
    #[error("PDF: {0}")]
    Pdf(String),
    /// Not a format name.
    #[error("unknown format {0:?} (expected csv, json, xlsx, html or pdf)")]
    UnknownFormat(String),
    /// Not a language tag.
    #[error("unknown language {0:?} (expected en or zh-CN)")]
    UnknownLang(String),
    /// Not a table name.
    #[error("unknown table {0:?}")]
    UnknownTable(String),
    /// CSV as one file needs a table: there is one CSV file per table.
    #[error("CSV is one file per table: name one (table=hosts, links, ...)")]
    TableRequired,
}
