//! Monthly report exports: a [`MonthReport`] rendered as JSON, CSV, XLSX, a print-ready
//! HTML page or a PDF, headers and texts in English or Simplified Chinese.
//!
//! Rendering is pure (model in, bytes out: [`render_files_with`], [`render_to_bytes_with`]
//! given the PDF font); [`render_files`] and [`render_to_bytes`] look the PDF font up
//! ([`pdf::PdfFont::find`]) when a PDF is asked for, and [`write`] touches the disk. CSV,
//! XLSX, HTML and PDF share one tabular view of the report ([`tables`]) and one way of
//! writing numbers ([`numbers`]); HTML and PDF share the first page ([`document`]).
//!
//! Tabular formats localize enumerated values too (levels, domains, kinds, yes/no); the
//! JSON export is the model itself, with its language-neutral codes, for machines.

pub mod csv;
pub mod document;
pub mod html;
pub mod i18n;
pub mod json;
pub mod layout;

pub mod numbers;
pub mod pdf;
pub mod tables;
pub mod xlsx;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::month::sla::model::MonthReport;
pub use tables::TableId;

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

/// One rendered file: its name and contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// File name (no directory), e.g. `zerofault-2026-01-zh-CN.xlsx`.
    pub file_name: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

fn base_name(report: &MonthReport, lang: Lang) -> String {
    // The month is `YYYY-MM` from the model; anything else (a path separator above all)
    // is replaced so a file name can never leave the output directory.
    let month: String = report
        .month
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("zerofault-{month}-{}", lang.tag())
}

/// What rendering needs besides the report.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The PDF font; `None` looks it up ([`pdf::PdfFont::find`]) when a PDF is rendered.
    pub pdf_font: Option<pdf::PdfFont>,
}

/// Every file of `report` in `format`: one per table for CSV, one otherwise. Pure but for
/// looking up the PDF font of a PDF ([`render_files_with`] takes it).
///
/// `lang` chooses headers and texts; names come from the model as they are, so pass the
/// report's own language (`report.lang`) unless a mixed-language file is wanted.
pub fn render_files(
    report: &MonthReport,
    format: Format,
    lang: Lang,
) -> Result<Vec<Rendered>, ExportError> {
    render_files_with(report, format, lang, &Options::default())
}

/// [`render_files`] with `options`; pure when `options` has the PDF font.
pub fn render_files_with(
    report: &MonthReport,
    format: Format,
    lang: Lang,
    options: &Options,
) -> Result<Vec<Rendered>, ExportError> {
    let base = base_name(report, lang);
    Ok(match format {
        Format::Csv => csv::render_all(report, lang)?
            .into_iter()
            .map(|(id, bytes)| Rendered {
                file_name: format!("{base}-{}.csv", id.name()),
                bytes,
            })
            .collect(),
        Format::Json => {
            vec![Rendered {
                file_name: format!("{base}.json"),
                bytes: json::render(report)?,
            }]
        }
        Format::Xlsx => {
            vec![Rendered {
                file_name: format!("{base}.xlsx"),
                bytes: xlsx::render(report, lang)?,
            }]
        }
        Format::Html => {
            vec![Rendered {
                file_name: format!("{base}.html"),
                bytes: html::render(report, lang)?,
            }]
        }
        Format::Pdf => {
            let found;
            let font = match &options.pdf_font {
                Some(f) => f,
                None => {
                    found = pdf::PdfFont::find(None)?;
                    &found
                }
            };
            vec![Rendered {
                file_name: format!("{base}.pdf"),
                bytes: pdf::render(report, lang, font)?,
            }]
        }
    })
}

/// One file of `report` for the HTTP API. JSON, XLSX and HTML ignore `table`; CSV needs
/// it ([`ExportError::TableRequired`] without) and returns that one table.
pub fn render_to_bytes(
    report: &MonthReport,
    format: Format,
    lang: Lang,
    table: Option<TableId>,
) -> Result<Rendered, ExportError> {
    render_to_bytes_with(report, format, lang, table, &Options::default())
}

/// [`render_to_bytes`] with `options`.
pub fn render_to_bytes_with(
    report: &MonthReport,
    format: Format,
    lang: Lang,
    table: Option<TableId>,
    options: &Options,
) -> Result<Rendered, ExportError> {
    if format == Format::Csv {
        let id = table.ok_or(ExportError::TableRequired)?;
        return Ok(Rendered {
            file_name: format!("{}-{}.csv", base_name(report, lang), id.name()),
            bytes: csv::render_table(report, lang, id)?,
        });
    }
    let mut files = render_files_with(report, format, lang, options)?;
    // Every non-CSV format renders exactly one file.
    Ok(files.remove(0))
}

/// Renders `report` and writes its files into the directory `out` (created if missing).
/// Each file is written to a temporary name and renamed, so a reader (or the signer) never
/// sees half a file. Returns the paths written, in render order.
pub fn write(
    report: &MonthReport,
    format: Format,
    lang: Lang,
    out: &Path,
) -> Result<Vec<PathBuf>, ExportError> {
    write_with(report, format, lang, out, &Options::default())
}

/// [`write`] with `options`.
pub fn write_with(
    report: &MonthReport,
    format: Format,
    lang: Lang,
    out: &Path,
    options: &Options,
) -> Result<Vec<PathBuf>, ExportError> {
    let files = render_files_with(report, format, lang, options)?;
    std::fs::create_dir_all(out).map_err(|source| ExportError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    let mut written = Vec::with_capacity(files.len());
    for file in files {
        let path = out.join(&file.file_name);
        let tmp = out.join(format!(".{}.tmp", file.file_name));
        std::fs::write(&tmp, &file.bytes).map_err(|source| ExportError::Io {
            path: tmp.clone(),
            source,
        })?;
        std::fs::rename(&tmp, &path).map_err(|source| ExportError::Io {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse() {
        assert_eq!("zh-CN".parse::<Lang>().unwrap(), Lang::ZhCn);
        assert_eq!("zh_cn".parse::<Lang>().unwrap(), Lang::ZhCn);
        assert_eq!("en".parse::<Lang>().unwrap(), Lang::En);
        assert!("fr".parse::<Lang>().is_err());
        for f in Format::ALL {
            assert_eq!(f.name().parse::<Format>().unwrap(), f);
            assert_eq!(
                <Format as clap::ValueEnum>::from_str(f.name(), false).unwrap(),
                f,
                "clap and FromStr agree"
            );
        }
        assert_eq!(
            <Lang as clap::ValueEnum>::from_str("zh-CN", false).unwrap(),
            Lang::ZhCn
        );
        assert_eq!("PDF".parse::<Format>().unwrap(), Format::Pdf);
        assert!("docx".parse::<Format>().is_err());
    }
}
