//! PDF export, made on the collector without a browser: the same first page as the HTML
//! ([`super::document`]), then every table as the appendix, A4 landscape, "Page N of M" on
//! every page. Written with `krilla`, which subsets the font and embeds only the glyphs
//! used; the layout is [`super::layout`] (pure), measured with the same font.
//!
//! # The font
//!
//! Chinese needs a CJK font, and none is bundled: the collector package depends on
//! `fonts-wqy-microhei` (Debian; `wqy-microhei-fonts` on rpm systems), found through
//! [`FONT_SEARCH`]; `report --pdf-font PATH` names another TrueType/OpenType file (face 0
//! of a collection). A missing font is an error naming every path tried and the package to
//! install; a text with a character the font lacks is an error naming the characters, so a
//! PDF never shows empty boxes ("tofu") in place of text.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use krilla::Document;
use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::metadata::Metadata;
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::text::{Font, TextDirection};
use skrifa::instance::{LocationRef, Size};
use skrifa::{FontRef, MetadataProvider};

use super::document::{self, Mark};
use super::format::{ExportError, Lang};
use super::i18n::{self, Key};
use super::layout::{self, A4_LANDSCAPE, Block, Measure, Op, TableSpec, Tone};
use super::numbers;
use super::tables::{self, Cell, Local, Medium};
use crate::month::sla::model::MonthReport;

/// Where the PDF font is looked for, in order: (path, face index in the collection, the
/// package that installs it). The first that exists is used.
pub const FONT_SEARCH: [(&str, u32, &str); 5] = [
    (
        "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
        0,
        "fonts-wqy-microhei (Debian, Ubuntu)",
    ),
    (
        "/usr/share/fonts/wqy-microhei/wqy-microhei.ttc",
        0,
        "wqy-microhei-fonts (RHEL, openEuler, Kylin, Fedora)",
    ),
    // Noto Sans CJK collection: face 2 is the Simplified Chinese one (SC).
    (
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
        2,
        "fonts-noto-cjk (Debian, Ubuntu)",
    ),
    (
        "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
        2,
        "google-noto-sans-cjk-ttc-fonts (RHEL, Fedora)",
    ),
    (
        "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
        0,
        "fonts-droid-fallback (Debian, Ubuntu)",
    ),
];

/// Largest font file accepted (a CJK collection is 5-20 MB; Noto CJK's is ~20 MB).
pub const MAX_FONT_BYTES: u64 = 64 << 20;

/// A loaded font for the PDF.
#[derive(Clone)]
pub struct PdfFont {
    /// Where it was read from (messages).
    pub path: PathBuf,
    data: Arc<Vec<u8>>,
    index: u32,
}

impl std::fmt::Debug for PdfFont {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PdfFont")
            .field("path", &self.path)
            .field("index", &self.index)
            .field("bytes", &self.data.len())
            .finish()
    }
}

impl PdfFont {
    /// Reads face `index` of the font file at `path` and checks that it parses.
    pub fn load(path: &Path, index: u32) -> Result<PdfFont, ExportError> {
        let err = |message: String| ExportError::Font {
            message: format!("{}: {message}", path.display()),
        };
        let len = std::fs::metadata(path)
            .map_err(|e| err(e.to_string()))?
            .len();
        if len > MAX_FONT_BYTES {
            return Err(err(format!(
                "{len} bytes, more than the {MAX_FONT_BYTES} accepted for a font"
            )));
        }
        let data = std::fs::read(path).map_err(|e| err(e.to_string()))?;
        FontRef::from_index(&data, index).map_err(|e| {
            err(format!(
                "not a TrueType/OpenType font (face {index}): {e}; give a .ttf, .otf or .ttc file"
            ))
        })?;
        Ok(PdfFont {
            path: path.to_owned(),
            data: Arc::new(data),
            index,
        })
    }

    /// The font at `explicit` (face 0), else the first of [`FONT_SEARCH`] that exists.
    pub fn find(explicit: Option<&Path>) -> Result<PdfFont, ExportError> {
        if let Some(p) = explicit {
            return PdfFont::load(p, 0);
        }
        for (path, index, _) in FONT_SEARCH {
            if Path::new(path).exists() {
                return PdfFont::load(Path::new(path), index);
            }
        }
        let tried: Vec<String> = FONT_SEARCH
            .iter()
            .map(|(p, _, pkg)| format!("{p} (package {pkg})"))
            .collect();
        Err(ExportError::Font {
            message: format!(
                "no CJK font for the PDF; tried {}. Install fonts-wqy-microhei (apt-get install fonts-wqy-microhei; rpm: wqy-microhei-fonts) or give one with --pdf-font PATH",
                tried.join(", ")
            ),
        })
    }

    fn font_ref(&self) -> Result<FontRef<'_>, ExportError> {
        FontRef::from_index(&self.data, self.index).map_err(|e| ExportError::Font {
            message: format!("{}: {e}", self.path.display()),
        })
    }
}

/// Text widths from the font's advance widths (no kerning: a little wider than shaped text
/// at worst, so a measured line never overflows).
struct FontMeasure<'a> {
    font: FontRef<'a>,
    upem: f32,
}

impl<'a> FontMeasure<'a> {
    fn new(font: FontRef<'a>) -> FontMeasure<'a> {
        let upem = font
            .metrics(Size::unscaled(), LocationRef::default())
            .units_per_em;
        let upem = f32::from(upem.max(1));
        FontMeasure { font, upem }
    }

    /// Characters of `text` the font has no glyph for (control characters aside).
    fn missing(&self, text: &str) -> Vec<char> {
        let cmap = self.font.charmap();
        text.chars()
            .filter(|c| !c.is_control() && cmap.map(*c).is_none())
            .collect()
    }
}

impl Measure for FontMeasure<'_> {
    fn width(&self, text: &str, size: f32) -> f32 {
        let cmap = self.font.charmap();
        let metrics = self
            .font
            .glyph_metrics(Size::unscaled(), LocationRef::default());
        let units: f32 = text
            .chars()
            .map(|c| {
                cmap.map(c)
                    .and_then(|g| metrics.advance_width(g))
                    .unwrap_or(self.upem)
            })
            .sum();
        units * size / self.upem
    }
}

fn print_cell(local: &Local, c: &Cell) -> Result<(String, bool), ExportError> {
    Ok(match c {
        Cell::Text(s) => (s.clone(), false),
        Cell::Int(n) => (numbers::print_int(*n), true),
        Cell::Bytes(n) => (numbers::print_gib(*n), true),
        Cell::Ratio(v) => (v.map(numbers::print_percent).unwrap_or_default(), true),
        Cell::Minutes(v) => (v.map(numbers::print_minutes).unwrap_or_default(), true),
        Cell::Decimal(v, p) => (
            v.map(|v| numbers::print_decimal(v, *p)).unwrap_or_default(),
            true,
        ),
        Cell::Time(ms) => (local.short(*ms)?, false),
    })
}

fn tone(mark: Mark) -> Option<Tone> {
    match mark {
        Mark::Ok => Some(Tone::Good),
        Mark::Miss => Some(Tone::Bad),
        Mark::None => Some(Tone::Muted),
    }
}

fn para(text: String, size: f32, tone: Tone, after: f32) -> Block {
    Block::Paragraph {
        text,
        size,
        tone,
        indent: 0.0,
        bullet: false,
        after,
    }
}

/// The report as blocks: the first page, a page break, the appendix.
fn blocks(report: &MonthReport, lang: Lang) -> Result<Vec<Block>, ExportError> {
    let local = Local::new(report)?;
    let front = document::front_page(report, lang)?;
    let none = Key::NoRows.text(lang).to_string();
    let mut out = Vec::new();
    if !front.organisation.is_empty() {
        out.push(para(front.organisation.clone(), 14.0, Tone::Text, 4.0));
    }
    out.push(para(front.title.clone(), 18.0, Tone::Text, 4.0));
    // The status marker (closed/open); a "month to date, not final" marker goes here.
    out.push(para(
        front.status.clone(),
        10.5,
        if front.final_figures {
            Tone::Good
        } else {
            Tone::Bad
        },
        4.0,
    ));
    let facts: Vec<String> = front
        .facts
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    out.push(para(facts.join("    "), 9.0, Tone::Text, 6.0));
    for line in &front.summary {
        out.push(Block::Paragraph {
            text: line.clone(),
            size: 10.0,
            tone: Tone::Text,
            indent: 12.0,
            bullet: true,
            after: 2.0,
        });
    }
    for b in [&front.departments, &front.backbone, &front.incidents] {
        out.push(Block::Table(TableSpec {
            title: b.title.to_string(),
            headers: b.headers.iter().map(|h| h.to_string()).collect(),
            rows: b.rows.iter().map(|(cells, _)| cells.clone()).collect(),
            numeric: b.numeric.clone(),
            last_tone: b.rows.iter().map(|(_, m)| tone(*m)).collect(),
            size: 8.5,
            empty: none.clone(),
        }));
    }
    for line in &front.seal {
        out.push(para(line.clone(), 8.0, Tone::Text, 1.0));
    }
    out.push(Block::PageBreak);
    out.push(para(
        front.appendix_title.to_string(),
        14.0,
        Tone::Text,
        6.0,
    ));
    for t in tables::tables_for(report, lang, Medium::Print) {
        let mut rows = Vec::with_capacity(t.rows.len());
        let mut numeric = vec![false; t.headers.len()];
        for r in &t.rows {
            let mut cells = Vec::with_capacity(r.len());
            for (i, c) in r.iter().enumerate() {
                let (text, num) = print_cell(&local, c)?;
                if num {
                    numeric[i] = true;
                }
                cells.push(text);
            }
            rows.push(cells);
        }
        out.push(Block::Table(TableSpec {
            title: t.id.title(lang).to_string(),
            headers: t.headers.iter().map(|h| h.to_string()).collect(),
            rows,
            numeric,
            last_tone: Vec::new(),
            size: 7.5,
            empty: none.clone(),
        }));
    }
    Ok(out)
}

fn every_text(pages: &[layout::Page]) -> impl Iterator<Item = &str> {
    pages.iter().flat_map(|p| {
        p.ops.iter().filter_map(|o| match o {
            Op::Text { text, .. } => Some(text.as_str()),
            _ => None,
        })
    })
}

fn color(t: Tone) -> rgb::Color {
    match t {
        Tone::Text => rgb::Color::new(17, 17, 17),
        Tone::Muted => rgb::Color::new(90, 90, 90),
        Tone::Good => rgb::Color::new(27, 94, 32),
        Tone::Bad => rgb::Color::new(183, 28, 28),
        Tone::HeaderFill => rgb::Color::new(232, 232, 232),
        Tone::Rule => rgb::Color::new(150, 150, 150),
    }
}

fn fill(t: Tone) -> Fill {
    Fill {
        paint: color(t).into(),
        ..Default::default()
    }
}

/// `report` as a PDF in `lang`, set in `font`. Pure but for the font already loaded.
pub fn render(report: &MonthReport, lang: Lang, font: &PdfFont) -> Result<Vec<u8>, ExportError> {
    let measure = FontMeasure::new(font.font_ref()?);
    let continued = Key::Continued.text(lang);
    let pages = layout::layout(
        &blocks(report, lang)?,
        &A4_LANDSCAPE,
        &measure,
        continued,
        &|p, n| i18n::page_of(lang, p, n),
    );
    // Refuse rather than print boxes: name the characters the font lacks.
    let mut missing: Vec<char> = every_text(&pages)
        .flat_map(|t| measure.missing(t))
        .collect();
    missing.sort_unstable();
    missing.dedup();
    if !missing.is_empty() {
        let shown: String = missing.iter().take(20).collect();
        return Err(ExportError::Font {
            message: format!(
                "{} has no glyph for {} character(s) of the report ({shown:?}); use a font that covers them (fonts-wqy-microhei, fonts-noto-cjk) with --pdf-font",
                font.path.display(),
                missing.len()
            ),
        });
    }
    let kfont =
        Font::new(font.data.clone().into(), font.index).ok_or_else(|| ExportError::Font {
            message: format!("{}: krilla cannot read the font", font.path.display()),
        })?;
    let mut doc = Document::new();
    let title = document::front_page(report, lang)?.title;
    doc.set_metadata(
        Metadata::new()
            .title(title)
            .language(lang.tag().to_string())
            .creator("zerofault-collector".to_string()),
    );
    let settings = PageSettings::from_wh(A4_LANDSCAPE.width, A4_LANDSCAPE.height)
        .ok_or_else(|| ExportError::Pdf("page size".to_string()))?;
    for page in &pages {
        let mut p = doc.start_page_with(settings.clone());
        let mut s = p.surface();
        for op in &page.ops {
            match op {
                Op::Text {
                    x,
                    y,
                    size,
                    text,
                    tone,
                } => {
                    s.set_fill(Some(fill(*tone)));
                    s.set_stroke(None);
                    s.draw_text(
                        Point::from_xy(*x, *y),
                        kfont.clone(),
                        *size,
                        text,
                        false,
                        TextDirection::Auto,
                    );
                }
                Op::Fill { x, y, w, h, tone } => {
                    if let Some(path) = Rect::from_xywh(*x, *y, *w, *h).and_then(|r| {
                        let mut pb = PathBuilder::new();
                        pb.push_rect(r);
                        pb.finish()
                    }) {
                        s.set_fill(Some(fill(*tone)));
                        s.set_stroke(None);
                        s.draw_path(&path);
                    }
                }
                Op::Frame { x, y, w, h } => {
                    if let Some(path) = Rect::from_xywh(*x, *y, *w, *h).and_then(|r| {
                        let mut pb = PathBuilder::new();
                        pb.push_rect(r);
                        pb.finish()
                    }) {
                        s.set_fill(None);
                        s.set_stroke(Some(Stroke {
                            paint: color(Tone::Rule).into(),
                            width: 0.4,
                            ..Default::default()
                        }));
                        s.draw_path(&path);
                    }
                }
            }
        }
        s.finish();
        p.finish();
    }
    doc.finish().map_err(|e| ExportError::Pdf(format!("{e:?}")))
}
