//! Monthly report exports: a [`MonthReport`] rendered as JSON, CSV, XLSX, a print-ready
//! HTML page or a PDF, headers and texts in English or Simplified Chinese.
//!
//! Rendering is pure (model in, bytes out: [`render_files_with`], [`render_to_bytes_with`]
//! given the PDF font); [`render_files`] and [`render_to_bytes`] look the PDF font up
//! ([`pdf::PdfFont::find`]) when a PDF is asked for, and [`write()`] touches the disk. CSV,
//! XLSX, HTML and PDF share one tabular view of the report ([`tables`]) and one way of
//! writing numbers ([`numbers`]); HTML and PDF share the first page ([`document`]).
//!
//! Tabular formats localize enumerated values too (levels, domains, kinds, yes/no); the
//! JSON export is the model itself, with its language-neutral codes, for machines.

pub mod csv;
pub mod document;
pub mod format;
pub mod html;
pub mod i18n;
pub mod json;
pub mod layout;
pub mod local;
pub mod numbers;
pub mod pdf;
pub mod tables;
pub mod xlsx;

use std::path::{Path, PathBuf};

use crate::month::sla::model::MonthReport;
pub use format::{ExportError, Format, Lang};
pub use tables::TableId;

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

/// [`write()`] with `options`.
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
