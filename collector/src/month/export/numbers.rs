//! How every export writes a number: the one place that decides rounding, decimals,
//! thousands separators and units, so CSV, XLSX, HTML and PDF cannot drift apart.
//!
//! Two kinds of reader:
//!
//! * **Data** (CSV): plain numbers a script or spreadsheet parses, rounded to a stated
//!   precision so that float noise (`0.000022401433691756272`) never reaches the file:
//!   ratios to [`RATIO_PLACES`] decimals, minutes to [`MINUTE_PLACES`], other decimals to
//!   their cell's places; trailing zeros dropped (`120945`, `0.5`, `0.99987599`).
//! * **Print** (HTML, PDF): what a manager reads: minutes as whole minutes with thousands
//!   separators (`218,994`), percentages with [`PERCENT_PLACES`] decimals (`99.988%`),
//!   bytes in GiB.
//!
//! Neither ever writes a negative zero (`-0`, `-0.00`): a value that rounds to zero is zero.

/// Decimals of a ratio (availability, coverage, loss, utilisation) in CSV: 1e-8 is far finer
/// than one minute of a month (1 / 44,640 = 2.2e-5), so no figure is lost, and no noise shown.
pub const RATIO_PLACES: u8 = 8;
/// Decimals of minutes in CSV: slots are whole seconds (at least 10 s), so minutes are
/// multiples of 1/6 and two decimals keep them to the second.
pub const MINUTE_PLACES: u8 = 2;
/// Decimals of a percentage in print (HTML, PDF) and XLSX (`0.000%`).
pub const PERCENT_PLACES: u8 = 3;
/// Bytes in a GiB (print shows capacity in GiB).
pub const GIB: f64 = (1u64 << 30) as f64;

/// `v` rounded to `places` decimals, `-0` turned into `0`.
fn rounded(v: f64, places: u8) -> String {
    let s = format!("{v:.prec$}", prec = usize::from(places));
    // A negative value that rounds to zero prints as "-0.00": there is no such figure.
    match s.strip_prefix('-') {
        Some(rest) if rest.chars().all(|c| c == '0' || c == '.') => rest.to_string(),
        _ => s,
    }
}

/// A decimal for data readers: at most `places` decimals, trailing zeros and a trailing
/// point dropped, never `-0`. `120945.0` -> `120945`, `0.5` -> `0.5`.
pub fn data_decimal(v: f64, places: u8) -> String {
    let s = rounded(v, places);
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A ratio 0..=1 for data readers ([`RATIO_PLACES`]).
pub fn data_ratio(v: f64) -> String {
    data_decimal(v, RATIO_PLACES)
}

/// Minutes for data readers ([`MINUTE_PLACES`]).
pub fn data_minutes(v: f64) -> String {
    data_decimal(v, MINUTE_PLACES)
}

/// Inserts `,` every three digits of the integer part: `218994.5` -> `218,994.5`.
fn group_thousands(s: &str) -> String {
    let (sign, rest) = match s.strip_prefix('-') {
        Some(r) => ("-", r),
        None => ("", s),
    };
    let (int, frac) = match rest.find('.') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let mut out = String::with_capacity(s.len() + int.len() / 3);
    out.push_str(sign);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out.push_str(frac);
    out
}

/// A count for print: `44640` -> `44,640`.
pub fn print_int(n: i64) -> String {
    group_thousands(&n.to_string())
}

/// A decimal for print with exactly `places` decimals and thousands separators.
pub fn print_decimal(v: f64, places: u8) -> String {
    group_thousands(&rounded(v, places))
}

/// Minutes for print: whole minutes with thousands separators (`218,994`). A figure under
/// half a minute that is not zero shows as `<1`, so that a short outage does not read as none.
pub fn print_minutes(v: f64) -> String {
    if v > 0.0 && v < 0.5 {
        return "<1".to_string();
    }
    print_decimal(v, 0)
}

/// A ratio 0..=1 as a percentage for print: `0.99987599` -> `99.988%`.
pub fn print_percent(v: f64) -> String {
    format!("{}%", print_decimal(v * 100.0, PERCENT_PLACES))
}

/// Bytes for print, in GiB with one decimal (`192.0`); the column header says GiB.
pub fn print_gib(bytes: u64) -> String {
    print_decimal(bytes as f64 / GIB, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_negative_zero_anywhere() {
        let empty: f64 = Vec::<f64>::new().into_iter().sum();
        assert!(
            empty.is_sign_negative(),
            "the sum of nothing is -0.0 in Rust"
        );
        assert_eq!(data_minutes(empty), "0");
        assert_eq!(data_ratio(-0.0), "0");
        assert_eq!(data_decimal(-0.000_000_1, 2), "0");
        assert_eq!(print_minutes(-0.0), "0");
        assert_eq!(print_decimal(-0.001, 2), "0.00");
        assert_eq!(print_percent(-0.0), "0.000%");
        assert_eq!(print_decimal(-1234.5, 1), "-1,234.5");
    }

    #[test]
    fn data_numbers_have_a_stated_precision() {
        assert_eq!(data_ratio(0.000_022_401_433_691_756_272), "0.0000224");
        assert_eq!(data_ratio(0.999_875_992_063_492_1), "0.99987599");
        assert_eq!(data_ratio(1.0), "1");
        assert_eq!(data_minutes(120_945.0), "120945");
        assert_eq!(data_minutes(10.0 / 6.0), "1.67");
        assert_eq!(data_minutes(0.5), "0.5");
        assert_eq!(data_decimal(7.25, 2), "7.25");
        assert_eq!(data_decimal(123.44, 1), "123.4");
    }

    #[test]
    fn print_numbers_read_like_a_document() {
        assert_eq!(print_minutes(218_994.0), "218,994");
        assert_eq!(print_minutes(44_640.0), "44,640");
        assert_eq!(print_minutes(999.0), "999");
        assert_eq!(print_minutes(1_000.0), "1,000");
        assert_eq!(print_minutes(0.0), "0");
        assert_eq!(print_minutes(0.17), "<1");
        assert_eq!(print_minutes(17.5), "18");
        assert_eq!(print_int(1_234_567), "1,234,567");
        assert_eq!(print_int(-12), "-12");
        assert_eq!(print_percent(0.999_875_992), "99.988%");
        assert_eq!(print_percent(1.0), "100.000%");
        assert_eq!(print_gib(192 * (1 << 30)), "192.0");
        assert_eq!(print_gib(4 * (1 << 40)), "4,096.0");
        assert_eq!(print_decimal(7.25, 2), "7.25");
    }
}
