//! Page layout of the PDF export, pure: paragraphs and tables in, positioned text, boxes and
//! rules per page out. The PDF writer ([`super::pdf`]) only draws what this returns, and the
//! rules here are tested with a literal text measure.
//!
//! # Rules
//!
//! * Text wraps at spaces, and between any two CJK characters (Chinese has no spaces); a
//!   word wider than the line is broken between characters. Nothing is cut off.
//! * Table columns: each gets at least its widest unbreakable piece (a number, a word, one
//!   CJK character of a header) and at most its widest cell; the room left over goes to the
//!   columns in proportion to what they lack. A table whose minimum does not fit is set in
//!   the next smaller font size ([`TABLE_SIZES`]) until it does.
//! * A row never splits across pages; a table that continues on a new page repeats its
//!   header row, and its title with "(continued)".
//! * Every page gets the footer "Page N of M" (N and M known after the layout).

/// Measures text: width in points of `text` set at `size` points.
pub trait Measure {
    /// Width of `text` at `size`.
    fn width(&self, text: &str, size: f32) -> f32;
}

/// Page geometry, points (1/72 in).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PageSpec {
    /// Page width.
    pub width: f32,
    /// Page height.
    pub height: f32,
    /// Left and right margin.
    pub margin_x: f32,
    /// Top margin.
    pub margin_top: f32,
    /// Bottom margin; the footer sits inside it.
    pub margin_bottom: f32,
}

/// A4 landscape (297 x 210 mm), as the HTML page prints.
pub const A4_LANDSCAPE: PageSpec = PageSpec {
    width: 841.89,
    height: 595.28,
    margin_x: 32.0,
    margin_top: 32.0,
    margin_bottom: 40.0,
};

/// Font sizes a wide table may be set in, largest first.
pub const TABLE_SIZES: [f32; 6] = [7.5, 7.0, 6.5, 6.0, 5.5, 5.0];
/// Cell padding, left and right, points.
const PAD_X: f32 = 2.0;
/// Cell padding, top and bottom, points.
const PAD_Y: f32 = 1.5;
/// Line height as a multiple of the font size.
const LEADING: f32 = 1.25;
/// Footer font size.
const FOOTER_SIZE: f32 = 8.0;

/// Colours the layout uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Body text.
    Text,
    /// Secondary text (footer, "none").
    Muted,
    /// Target met, fault-free.
    Good,
    /// Target missed, faults.
    Bad,
    /// Header row background.
    HeaderFill,
    /// Cell rules.
    Rule,
}

/// One thing to draw. Coordinates from the page's top left, y down; text `y` is the
/// baseline.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// A line of text.
    Text {
        /// Left edge.
        x: f32,
        /// Baseline.
        y: f32,
        /// Font size.
        size: f32,
        /// The text (one line).
        text: String,
        /// Colour.
        tone: Tone,
    },
    /// A filled box.
    Fill {
        /// Left.
        x: f32,
        /// Top.
        y: f32,
        /// Width.
        w: f32,
        /// Height.
        h: f32,
        /// Colour.
        tone: Tone,
    },
    /// A box outline (a table cell).
    Frame {
        /// Left.
        x: f32,
        /// Top.
        y: f32,
        /// Width.
        w: f32,
        /// Height.
        h: f32,
    },
}

/// A laid-out page.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    /// What to draw, in order.
    pub ops: Vec<Op>,
}

/// A table to lay out.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSpec {
    /// Title above it ("" for none).
    pub title: String,
    /// Column headers.
    pub headers: Vec<String>,
    /// Rows, each as long as `headers`.
    pub rows: Vec<Vec<String>>,
    /// Right-aligned columns.
    pub numeric: Vec<bool>,
    /// Colour of each row's last cell (verdicts), `None` for body text.
    pub last_tone: Vec<Option<Tone>>,
    /// Largest font size to try; smaller [`TABLE_SIZES`] are tried when it does not fit.
    pub size: f32,
    /// Text for an empty table.
    pub empty: String,
}

/// What flows onto the pages, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// Wrapped text.
    Paragraph {
        /// The text.
        text: String,
        /// Font size.
        size: f32,
        /// Colour.
        tone: Tone,
        /// Left indent, points (a bullet hangs in it).
        indent: f32,
        /// A bullet before the first line.
        bullet: bool,
        /// Space after, points.
        after: f32,
    },
    /// A table.
    Table(TableSpec),
    /// Start a new page.
    PageBreak,
}

/// Tokens of `text` for wrapping: words with their trailing space, and single CJK
/// characters (which may break anywhere).
fn tokens(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut iter = text.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        let next = iter.peek().map_or(text.len(), |&(j, _)| j);
        let next_c = iter.peek().map(|&(_, n)| n);
        // A break after `c`, unless it would start a line with closing punctuation or end
        // one with opening punctuation ("正常(分钟)" breaks only before "(" or after ")").
        let breaks = (c == ' ' || is_cjk(c) || next_c.is_some_and(is_cjk))
            && !next_c.is_some_and(is_closing_punct)
            && !is_opening_punct(c);
        if breaks || next == text.len() {
            out.push(&text[start..next]);
            start = next;
        }
        let _ = i;
    }
    out
}

/// Han, kana, CJK punctuation and full-width forms: a line may break around them.
fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x2E80..=0x9FFF | 0xF900..=0xFAFF | 0xFF00..=0xFFEF)
}

/// Punctuation that must not start a line (it stays with the character before it).
fn is_closing_punct(c: char) -> bool {
    "，。、；：！？）」』】),.;:!?]}%".contains(c)
}

/// Punctuation that must not end a line (it stays with the character after it).
fn is_opening_punct(c: char) -> bool {
    "（「『【([{".contains(c)
}

/// `text` wrapped into lines no wider than `max` at `size`. Never loses a character.
pub fn wrap(text: &str, max: f32, size: f32, m: &dyn Measure) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for token in tokens(text) {
        let candidate = format!("{line}{token}");
        if m.width(candidate.trim_end(), size) <= max || line.is_empty() {
            line = candidate;
        } else {
            lines.push(line.trim_end().to_string());
            line = token.to_string();
        }
        // A single token wider than the line: break it between characters.
        while m.width(line.trim_end(), size) > max && line.chars().count() > 1 {
            let mut head = String::new();
            for c in line.chars() {
                let mut h = head.clone();
                h.push(c);
                if m.width(&h, size) > max && !head.is_empty() {
                    break;
                }
                head = h;
            }
            let rest = line[head.len()..].to_string();
            if rest.is_empty() {
                break;
            }
            lines.push(head);
            line = rest;
        }
    }
    if !line.trim_end().is_empty() || lines.is_empty() {
        lines.push(line.trim_end().to_string());
    }
    lines
}

/// Widest unbreakable piece of `text`.
fn min_width(text: &str, size: f32, m: &dyn Measure) -> f32 {
    tokens(text)
        .into_iter()
        .map(|t| m.width(t.trim_end(), size))
        .fold(0.0, f32::max)
}

/// Column widths of a table at `size` within `avail`, or `None` when even the minimum
/// widths do not fit.
pub fn column_widths(t: &TableSpec, size: f32, avail: f32, m: &dyn Measure) -> Option<Vec<f32>> {
    let n = t.headers.len();
    let mut min = vec![0.0_f32; n];
    let mut max = vec![0.0_f32; n];
    let cells = std::iter::once(&t.headers).chain(&t.rows);
    for (r, row) in cells.enumerate() {
        for (c, text) in row.iter().enumerate().take(n) {
            let numeric = r > 0 && t.numeric.get(c).copied().unwrap_or(false);
            let full = m.width(text, size) + 2.0 * PAD_X;
            // Numbers are never broken; text and headers may wrap.
            let least = if numeric {
                full
            } else {
                min_width(text, size, m) + 2.0 * PAD_X
            };
            min[c] = min[c].max(least);
            max[c] = max[c].max(full);
        }
    }
    let total_min: f32 = min.iter().sum();
    if total_min > avail {
        return None;
    }
    let total_max: f32 = max.iter().sum();
    if total_max <= avail {
        return Some(max);
    }
    let lack: f32 = max.iter().zip(&min).map(|(a, b)| a - b).sum();
    let room = avail - total_min;
    Some(
        min.iter()
            .zip(&max)
            .map(|(lo, hi)| {
                if lack > 0.0 {
                    lo + (hi - lo) * room / lack
                } else {
                    *lo
                }
            })
            .collect(),
    )
}

struct Cursor<'a> {
    spec: &'a PageSpec,
    pages: Vec<Page>,
    y: f32,
}

impl Cursor<'_> {
    fn bottom(&self) -> f32 {
        self.spec.height - self.spec.margin_bottom
    }
    fn page(&mut self) -> &mut Page {
        self.pages.last_mut().expect("a page is always open")
    }
    fn new_page(&mut self) {
        self.pages.push(Page::default());
        self.y = self.spec.margin_top;
    }
    fn fits(&self, h: f32) -> bool {
        self.y + h <= self.bottom()
    }
    /// Starts a new page unless `h` fits, or the page is still empty (so an oversized
    /// block is placed anyway instead of looping).
    fn ensure(&mut self, h: f32) {
        if !self.fits(h) && self.y > self.spec.margin_top {
            self.new_page();
        }
    }
}

fn line_h(size: f32) -> f32 {
    size * LEADING
}

// The fields of `Block::Paragraph`, passed as they are.
#[allow(clippy::too_many_arguments)]
fn paragraph(
    cur: &mut Cursor<'_>,
    m: &dyn Measure,
    text: &str,
    size: f32,
    tone: Tone,
    indent: f32,
    bullet: bool,
    after: f32,
) {
    let left = cur.spec.margin_x + indent;
    let width = cur.spec.width - cur.spec.margin_x - left;
    for (i, line) in wrap(text, width, size, m).into_iter().enumerate() {
        cur.ensure(line_h(size));
        let baseline = cur.y + size;
        if bullet && i == 0 {
            cur.page().ops.push(Op::Text {
                x: left - size,
                y: baseline,
                size,
                text: "•".to_string(),
                tone,
            });
        }
        cur.page().ops.push(Op::Text {
            x: left,
            y: baseline,
            size,
            text: line,
            tone,
        });
        cur.y += line_h(size);
    }
    cur.y += after;
}

/// Lays out one row at the cursor: the cells' lines, frames, optional fill.
// The row's geometry and style, each a plain value: a struct would only rename them.
#[allow(clippy::too_many_arguments)]
fn row(
    cur: &mut Cursor<'_>,
    lines: &[Vec<String>],
    widths: &[f32],
    numeric: &[bool],
    size: f32,
    h: f32,
    fill: bool,
    last_tone: Option<Tone>,
    m: &dyn Measure,
) {
    let mut x = cur.spec.margin_x;
    let y = cur.y;
    let n = widths.len();
    for (c, (cell, w)) in lines.iter().zip(widths).enumerate() {
        if fill {
            cur.page().ops.push(Op::Fill {
                x,
                y,
                w: *w,
                h,
                tone: Tone::HeaderFill,
            });
        }
        cur.page().ops.push(Op::Frame { x, y, w: *w, h });
        let tone = if c + 1 == n {
            last_tone.unwrap_or(Tone::Text)
        } else {
            Tone::Text
        };
        for (i, line) in cell.iter().enumerate() {
            let right = numeric.get(c).copied().unwrap_or(false);
            let tx = if right {
                x + w - PAD_X - m.width(line, size)
            } else {
                x + PAD_X
            };
            cur.page().ops.push(Op::Text {
                x: tx,
                y: y + PAD_Y + size + i as f32 * line_h(size),
                size,
                text: line.clone(),
                tone,
            });
        }
        x += w;
    }
    cur.y += h;
}

fn table(cur: &mut Cursor<'_>, m: &dyn Measure, t: &TableSpec, continued: &str) {
    let avail = cur.spec.width - 2.0 * cur.spec.margin_x;
    let title_size = 11.0;
    if t.rows.is_empty() {
        cur.ensure(line_h(title_size) + line_h(9.0) + 6.0);
        if !t.title.is_empty() {
            paragraph(cur, m, &t.title, title_size, Tone::Text, 0.0, false, 2.0);
        }
        paragraph(cur, m, &t.empty, 9.0, Tone::Muted, 0.0, false, 8.0);
        return;
    }
    let sizes = TABLE_SIZES.iter().copied().filter(|s| *s <= t.size);
    let (size, widths) = std::iter::once(t.size)
        .chain(sizes)
        .find_map(|s| column_widths(t, s, avail, m).map(|w| (s, w)))
        .unwrap_or_else(|| {
            // Even the smallest size does not fit: share the width equally; cells wrap
            // between characters, so nothing is lost, only crowded.
            let s = TABLE_SIZES[TABLE_SIZES.len() - 1];
            (
                s,
                vec![avail / t.headers.len().max(1) as f32; t.headers.len()],
            )
        });
    let wrap_cells = |cells: &[String], numeric: bool| -> Vec<Vec<String>> {
        cells
            .iter()
            .enumerate()
            .map(|(c, text)| {
                let w = widths.get(c).copied().unwrap_or(avail) - 2.0 * PAD_X;
                if numeric && t.numeric.get(c).copied().unwrap_or(false) {
                    vec![text.clone()]
                } else {
                    wrap(text, w, size, m)
                }
            })
            .collect()
    };
    let height = |lines: &[Vec<String>]| {
        let n = lines.iter().map(Vec::len).max().unwrap_or(1).max(1);
        n as f32 * line_h(size) + 2.0 * PAD_Y
    };
    let header = wrap_cells(&t.headers, false);
    let header_h = height(&header);
    let rows: Vec<Vec<Vec<String>>> = t.rows.iter().map(|r| wrap_cells(r, true)).collect();
    let first_h = rows.first().map_or(0.0, |r| height(r));
    // Title, header and the first row stay together.
    let title_h = if t.title.is_empty() {
        0.0
    } else {
        line_h(title_size) + 2.0
    };
    cur.ensure(title_h + header_h + first_h);
    if !t.title.is_empty() {
        paragraph(cur, m, &t.title, title_size, Tone::Text, 0.0, false, 2.0);
    }
    let no_numbers = vec![false; widths.len()];
    let header_row = |cur: &mut Cursor<'_>| {
        row(
            cur,
            &header,
            &widths,
            &no_numbers,
            size,
            header_h,
            true,
            None,
            m,
        )
    };
    header_row(cur);
    for (i, cells) in rows.iter().enumerate() {
        let h = height(cells);
        if !cur.fits(h) {
            cur.new_page();
            if !t.title.is_empty() {
                let title = format!("{} {continued}", t.title);
                paragraph(cur, m, &title, title_size, Tone::Text, 0.0, false, 2.0);
            }
            header_row(cur);
        }
        let tone = t.last_tone.get(i).copied().flatten();
        row(cur, cells, &widths, &t.numeric, size, h, false, tone, m);
    }
    cur.y += 10.0;
}

/// Lays `blocks` out on pages of `spec` and adds the footer `footer(page, pages)` to each.
/// `continued` follows a table's title on the pages it continues on.
pub fn layout(
    blocks: &[Block],
    spec: &PageSpec,
    m: &dyn Measure,
    continued: &str,
    footer: &dyn Fn(usize, usize) -> String,
) -> Vec<Page> {
    let mut cur = Cursor {
        spec,
        pages: Vec::new(),
        y: 0.0,
    };
    cur.new_page();
    for b in blocks {
        match b {
            Block::Paragraph {
                text,
                size,
                tone,
                indent,
                bullet,
                after,
            } => paragraph(&mut cur, m, text, *size, *tone, *indent, *bullet, *after),
            Block::Table(t) => table(&mut cur, m, t, continued),
            Block::PageBreak => {
                if cur.y > spec.margin_top {
                    cur.new_page();
                }
            }
        }
    }
    let total = cur.pages.len();
    for (i, page) in cur.pages.iter_mut().enumerate() {
        let text = footer(i + 1, total);
        let w = m.width(&text, FOOTER_SIZE);
        page.ops.push(Op::Text {
            x: (spec.width - w) / 2.0,
            y: spec.height - spec.margin_bottom / 2.0,
            size: FOOTER_SIZE,
            text,
            tone: Tone::Muted,
        });
    }
    cur.pages
}

#[cfg(test)]
mod tests;
