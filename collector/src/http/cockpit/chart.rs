//! Line charts of the drill-down pages, drawn on the server as inline SVG from the
//! downsampled series (5-minute slots): no chart script, nothing fetched, the page prints
//! and reads the same with scripts off. Pure: points in, SVG text out.
//!
//! A 30-day range has 8,640 slots; more points than the chart has pixel columns are merged
//! per column keeping the maximum (a peak of loss or a full disk must not be averaged
//! away). A pause of more than two slots (or, in a long range, two pixel columns) breaks the
//! line rather than drawing a slope across missing data.

use std::fmt::Write as _;

use super::topology::escape;

/// Width of the plot area, px; also the most points drawn per series.
pub const WIDTH: i32 = 560;
/// Height of the plot area, px.
pub const HEIGHT: i32 = 120;
/// Room on the left for the axis labels, px.
const LEFT: i32 = 56;
/// Room below for the time labels, px.
const BOTTOM: i32 = 18;
/// A gap longer than this many slots (at least two pixel columns) breaks the line.
const GAP_SLOTS: i64 = 2;

/// How values are labelled on the axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A ratio 0..1, shown as a percentage; the axis is 0..100 %.
    Ratio,
    /// Seconds, shown in ms; the axis is 0..the largest value.
    Seconds,
    /// A plain number (load); the axis is 0..the largest value.
    Plain,
}

impl Unit {
    fn label(self, v: f64) -> String {
        match self {
            Unit::Ratio => format!("{:.0}%", v * 100.0),
            Unit::Seconds => format!("{:.1} ms", v * 1000.0),
            Unit::Plain => format!("{v:.2}"),
        }
    }
}

/// One line: a name for the legend and `(t_ms, value)` points in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// Legend text (a mount point, a vantage point).
    pub name: String,
    /// Points, time ordered.
    pub points: Vec<(i64, f64)>,
}

/// Merges points per pixel column keeping the maximum; keeps time order.
pub fn downsample(points: &[(i64, f64)], from: i64, to: i64, columns: i32) -> Vec<(i64, f64)> {
    if points.len() <= columns as usize || to <= from {
        return points.to_vec();
    }
    let span = (to - from) as f64;
    let mut out: Vec<(i64, f64)> = Vec::with_capacity(columns as usize);
    let mut current: Option<(i64, (i64, f64))> = None;
    for &(t, v) in points {
        let col = (((t - from) as f64 / span) * f64::from(columns)).floor() as i64;
        match &mut current {
            Some((c, best)) if *c == col => {
                if v > best.1 {
                    *best = (t, v);
                }
            }
            _ => {
                if let Some((_, best)) = current.take() {
                    out.push(best);
                }
                current = Some((col, (t, v)));
            }
        }
    }
    if let Some((_, best)) = current {
        out.push(best);
    }
    out
}

/// A chart of `lines` over `[from, to)`; `time` formats an axis time. Says so when there is
/// no point at all.
pub fn svg(
    lines: &[Line],
    unit: Unit,
    from: i64,
    to: i64,
    slot_ms: i64,
    time: &dyn Fn(i64) -> String,
    empty: &str,
) -> String {
    let total_w = LEFT + WIDTH + 8;
    let total_h = HEIGHT + BOTTOM + 6;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {total_w} {total_h}" width="{total_w}" height="{total_h}" role="img">"#
    );
    let max = match unit {
        Unit::Ratio => 1.0,
        _ => lines
            .iter()
            .flat_map(|l| l.points.iter().map(|p| p.1))
            .fold(0.0_f64, f64::max)
            .max(f64::MIN_POSITIVE),
    };
    let _ = write!(
        out,
        r#"<g class="axis"><path d="M{LEFT} 4 V{b} H{r}"/><text x="{tx}" y="14" text-anchor="end">{top}</text><text x="{tx}" y="{b}" text-anchor="end">{zero}</text><text x="{LEFT}" y="{ty}">{start}</text><text x="{r}" y="{ty}" text-anchor="end">{end}</text></g>"#,
        b = 4 + HEIGHT,
        r = LEFT + WIDTH,
        tx = LEFT - 4,
        ty = 4 + HEIGHT + 15,
        top = escape(&unit.label(max)),
        zero = escape(&unit.label(0.0)),
        start = escape(&time(from)),
        end = escape(&time(to)),
    );
    if lines.iter().all(|l| l.points.is_empty()) {
        let _ = write!(
            out,
            r#"<text class="empty" x="{}" y="{}" text-anchor="middle">{}</text></svg>"#,
            LEFT + WIDTH / 2,
            4 + HEIGHT / 2,
            escape(empty)
        );
        return out;
    }
    let span = (to - from).max(1) as f64;
    let x =
        |t: i64| f64::from(LEFT) + ((t - from) as f64 / span).clamp(0.0, 1.0) * f64::from(WIDTH);
    let y = |v: f64| f64::from(4 + HEIGHT) - (v / max).clamp(0.0, 1.0) * f64::from(HEIGHT);
    // After merging per column, neighbours may be up to two columns apart without a gap.
    let gap = (GAP_SLOTS * slot_ms.max(1)).max((to - from) / i64::from(WIDTH) * 2);
    for (i, line) in lines.iter().enumerate() {
        let points = downsample(&line.points, from, to, WIDTH);
        let mut d = String::new();
        let mut last_t: Option<i64> = None;
        for &(t, v) in &points {
            let pen = match last_t {
                Some(prev) if t - prev <= gap => 'L',
                _ => 'M',
            };
            let _ = write!(d, "{pen}{:.1} {:.1} ", x(t), y(v));
            last_t = Some(t);
        }
        let _ = write!(
            out,
            r#"<path class="line s{}" d="{}"><title>{}</title></path>"#,
            i % 6,
            d.trim_end(),
            escape(&line.name)
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downsampling_keeps_the_peak_of_each_column() {
        let points: Vec<(i64, f64)> = (0..100)
            .map(|i| (i, if i == 37 { 9.0 } else { 1.0 }))
            .collect();
        let d = downsample(&points, 0, 100, 10);
        assert_eq!(d.len(), 10);
        assert!(d.contains(&(37, 9.0)), "{d:?}");
        assert!(d.windows(2).all(|w| w[0].0 < w[1].0));
        // Fewer points than columns: unchanged.
        assert_eq!(downsample(&points[..5], 0, 100, 10), points[..5].to_vec());
    }

    #[test]
    fn a_gap_breaks_the_line_and_no_points_say_so() {
        let line = Line {
            name: "/var".into(),
            points: vec![(0, 0.5), (300_000, 0.5), (3_000_000, 0.6)],
        };
        let svg = svg(
            &[line],
            Unit::Ratio,
            0,
            3_600_000,
            300_000,
            &|t| t.to_string(),
            "none",
        );
        let d = svg.split("d=\"M56.0").nth(1).expect("a line");
        assert_eq!(
            d.matches('M').count(),
            1,
            "a second segment after the gap: {svg}"
        );
        assert!(svg.contains("100%") && svg.contains("<title>/var</title>"));

        let empty = super::svg(&[], Unit::Seconds, 0, 10, 1, &|t| t.to_string(), "no data");
        assert!(empty.contains("no data") && !empty.contains("class=\"line"));
    }
}
