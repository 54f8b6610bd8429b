use super::*;

/// Latin characters half an em wide, CJK one em: close to real fonts, and exact.
struct Fixed;
impl Measure for Fixed {
    fn width(&self, text: &str, size: f32) -> f32 {
        text.chars()
            .map(|c| if is_cjk(c) { size } else { size / 2.0 })
            .sum()
    }
}

fn texts(page: &Page) -> Vec<&str> {
    page.ops
        .iter()
        .filter_map(|o| match o {
            Op::Text { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn parentheses_stay_with_their_words() {
    assert_eq!(
        tokens("正常(分钟)时长"),
        ["正", "常", "(分", "钟)", "时", "长"]
    );
    assert_eq!(tokens("平均（分钟）"), ["平", "均", "（分", "钟）"]);
}

#[test]
fn wraps_at_spaces_and_between_cjk_characters() {
    // 10 pt: a Latin character is 5 pt, a CJK one 10 pt.
    assert_eq!(
        wrap("aaa bbb ccc", 40.0, 10.0, &Fixed),
        ["aaa bbb", "ccc"],
        "'aaa bbb' is 35 pt"
    );
    assert_eq!(
        wrap("骨干网零故障结论", 30.0, 10.0, &Fixed),
        ["骨干网", "零故障", "结论"]
    );
    // A comma stays with the character before it.
    assert_eq!(wrap("甲乙，丙丁", 30.0, 10.0, &Fixed), ["甲乙，", "丙丁"]);
    // A word wider than the line is broken, nothing is lost.
    assert_eq!(
        wrap("abcdefghij", 20.0, 10.0, &Fixed),
        ["abcd", "efgh", "ij"]
    );
    assert_eq!(wrap("", 20.0, 10.0, &Fixed), [""]);
    // Mixed: "主机 1,234" is 50 pt; a number is not broken.
    assert_eq!(
        wrap("主机 1,234 台", 40.0, 10.0, &Fixed),
        ["主机", "1,234 台"]
    );
}

fn spec(headers: &[&str], rows: &[&[&str]], numeric: &[bool]) -> TableSpec {
    TableSpec {
        title: "T".into(),
        headers: headers.iter().map(|s| s.to_string()).collect(),
        rows: rows
            .iter()
            .map(|r| r.iter().map(|s| s.to_string()).collect())
            .collect(),
        numeric: numeric.to_vec(),
        last_tone: vec![],
        size: 10.0,
        empty: "None.".into(),
    }
}

#[test]
fn columns_get_their_widest_cell_when_it_fits_and_share_the_rest_otherwise() {
    let t = spec(
        &["Name", "Minutes"],
        &[&["Finance Bureau", "44,640"]],
        &[false, true],
    );
    // Natural: "Finance Bureau" 70 + 4, "Minutes" 35 + 4.
    assert_eq!(
        column_widths(&t, 10.0, 500.0, &Fixed),
        Some(vec![74.0, 39.0])
    );
    // 80 pt: minimum "Finance " 35+4=39 (widest word "Finance"), "Minutes" 39; 2 pt of
    // room, all to the name, which lacks 35.
    let w = column_widths(&t, 10.0, 80.0, &Fixed).unwrap();
    assert!(
        (w[0] - 41.0).abs() < 1e-4 && (w[1] - 39.0).abs() < 1e-4,
        "{w:?}"
    );
    // Below the minimum: does not fit at this size.
    assert_eq!(column_widths(&t, 10.0, 70.0, &Fixed), None);
}

#[test]
fn long_tables_break_with_repeated_headers_and_numbered_pages() {
    let rows: Vec<Vec<String>> = (0..200)
        .map(|i| vec![format!("host-{i}"), format!("{i}")])
        .collect();
    let t = TableSpec {
        rows,
        ..spec(&["Host", "Minutes"], &[], &[false, true])
    };
    let blocks = vec![
        Block::Paragraph {
            text: "First page".into(),
            size: 12.0,
            tone: Tone::Text,
            indent: 0.0,
            bullet: false,
            after: 0.0,
        },
        Block::PageBreak,
        Block::Table(t),
    ];
    let pages = layout(&blocks, &A4_LANDSCAPE, &Fixed, "(continued)", &|p, n| {
        format!("Page {p} of {n}")
    });
    assert!(pages.len() >= 4, "{} pages", pages.len());
    let n = pages.len();
    let footer = format!("Page 1 of {n}");
    assert_eq!(texts(&pages[0]), ["First page", footer.as_str()]);
    for (i, p) in pages.iter().enumerate().skip(1) {
        let t = texts(p);
        assert_eq!(t.last().unwrap(), &format!("Page {} of {n}", i + 1));
        assert!(
            t.contains(&"Host") && t.contains(&"Minutes"),
            "header on page {}",
            i + 1
        );
        if i > 1 {
            assert!(t.contains(&"T (continued)"), "title on page {}", i + 1);
        }
        // Nothing below the bottom margin but the footer.
        for o in &p.ops[..p.ops.len() - 1] {
            if let Op::Text { y, .. } = o {
                assert!(*y <= A4_LANDSCAPE.height - A4_LANDSCAPE.margin_bottom);
            }
        }
    }
    // Every row is on some page, once.
    let all: Vec<&str> = pages.iter().flat_map(texts).collect();
    for i in 0..200 {
        let name = format!("host-{i}");
        assert_eq!(all.iter().filter(|t| **t == name).count(), 1, "{name}");
    }
    // Numbers are right-aligned: a number's right edge is its column's.
    let rights: Vec<f32> = pages[1]
        .ops
        .iter()
        .filter_map(|o| match o {
            Op::Text { x, text, size, .. } if text.parse::<u32>().is_ok() => {
                Some(x + Fixed.width(text, *size))
            }
            _ => None,
        })
        .collect();
    assert!(rights.len() > 10);
    assert!(
        rights.iter().all(|r| (r - rights[0]).abs() < 1e-3),
        "{rights:?}"
    );
}

#[test]
fn a_wide_table_is_set_smaller_until_it_fits() {
    let headers: Vec<String> = (0..25).map(|i| format!("Column{i:02}")).collect();
    let t = TableSpec {
        title: String::new(),
        headers: headers.clone(),
        rows: vec![vec!["99.988%".to_string(); 25]],
        numeric: vec![true; 25],
        last_tone: vec![],
        size: 9.0,
        empty: String::new(),
    };
    let pages = layout(&[Block::Table(t)], &A4_LANDSCAPE, &Fixed, "", &|_, _| {
        String::new()
    });
    let sizes: Vec<f32> = pages[0]
        .ops
        .iter()
        .filter_map(|o| match o {
            Op::Text { size, text, .. } if !text.is_empty() => Some(*size),
            _ => None,
        })
        .collect();
    // "Column00" is 8 characters: 25 * (8 * s/2 + 4) <= 777.89 gives s <= 6.77.
    assert!(sizes.iter().all(|s| *s == 6.5), "{sizes:?}");
    // Every cell lies inside the page.
    for o in &pages[0].ops {
        if let Op::Frame { x, w, .. } = o {
            assert!(x + w <= A4_LANDSCAPE.width - A4_LANDSCAPE.margin_x + 0.01);
        }
    }
}
