//! Whether a request's `Accept-Encoding` accepts gzip (RFC 9110, section 12.5.3).
//!
//! Prometheus sends `Accept-Encoding: gzip`; other scrapers send lists with quality values
//! (`gzip;q=0.8, identity`), and `gzip;q=0` explicitly refuses gzip. The header is the
//! client's and therefore hostile: anything that does not parse is taken as "not this
//! coding", so a malformed header gets the uncompressed body, which every client reads.

use axum::http::HeaderValue;

/// Whether the `Accept-Encoding` field values `values` (every header line of the request)
/// accept gzip: `gzip` or `x-gzip` with a quality above 0, or, when neither is named, `*`
/// with a quality above 0. No header at all means no gzip: a client that never asked gets
/// the plain text (RFC 9110 allows either; plain is what every client reads).
pub(crate) fn accepts_gzip<'a>(values: impl IntoIterator<Item = &'a HeaderValue>) -> bool {
    let mut gzip: Option<bool> = None;
    let mut any: Option<bool> = None;
    for value in values {
        // A value that is not visible ASCII is not a list of codings.
        let Ok(text) = value.to_str() else {
            continue;
        };
        for element in text.split(',') {
            let mut parts = element.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let Some(quality) = quality(parts) else {
                continue;
            };
            let accepted = quality > 0;
            if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
                // With the coding named twice, a refusal wins.
                gzip = Some(gzip.unwrap_or(true) && accepted);
            } else if coding == "*" {
                any = Some(any.unwrap_or(true) && accepted);
            }
        }
    }
    gzip.or(any).unwrap_or(false)
}

/// The quality of one element from its parameters, in thousandths: 1000 without a `q`;
/// `None` when a `q` is not a valid qvalue (`0`, `0.` and up to three digits, `1`, `1.` and
/// up to three zeros).
fn quality<'a>(params: impl Iterator<Item = &'a str>) -> Option<u16> {
    let mut q = 1000;
    for param in params {
        let (name, value) = param.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("q") {
            continue;
        }
        q = parse_qvalue(value.trim())?;
    }
    Some(q)
}

fn parse_qvalue(s: &str) -> Option<u16> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = frac
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0u16, |acc, b| acc * 10 + u16::from(b - b'0'));
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepts(lines: &[&str]) -> bool {
        let values: Vec<HeaderValue> = lines
            .iter()
            .map(|l| HeaderValue::from_str(l).unwrap())
            .collect();
        accepts_gzip(&values)
    }

    #[test]
    fn what_scrapers_send() {
        // Prometheus, curl --compressed, browsers, Telegraf.
        assert!(accepts(&["gzip"]));
        assert!(accepts(&["deflate, gzip"]));
        assert!(accepts(&["gzip, deflate, br, zstd"]));
        assert!(accepts(&["identity, gzip;q=0.5"]));
        assert!(!accepts(&[]));
        assert!(!accepts(&[""]));
        assert!(!accepts(&["identity"]));
        assert!(!accepts(&["deflate, br"]));
    }

    #[test]
    fn quality_values() {
        assert!(!accepts(&["gzip;q=0"]));
        assert!(!accepts(&["gzip; q=0.000"]));
        assert!(!accepts(&["gzip;Q=0."]));
        assert!(accepts(&["gzip;q=0.001"]));
        assert!(accepts(&["gzip;q=1"]));
        assert!(accepts(&["gzip;q=1.000"]));
        assert!(accepts(&["GZIP ; q=0.5"]));
        assert!(accepts(&["x-gzip"]));
        // Not qvalues: the element is ignored.
        for bad in [
            "gzip;q=2",
            "gzip;q=1.5",
            "gzip;q=0.0001",
            "gzip;q=-1",
            "gzip;q=",
            "gzip;q=abc",
            "gzip;q",
        ] {
            assert!(!accepts(&[bad]), "{bad}");
        }
    }

    #[test]
    fn wildcard_and_explicit_refusal() {
        assert!(accepts(&["*"]));
        assert!(accepts(&["br, *;q=0.1"]));
        assert!(!accepts(&["*;q=0"]));
        // A named coding decides over the wildcard, either way.
        assert!(!accepts(&["*, gzip;q=0"]));
        assert!(accepts(&["*;q=0, gzip"]));
        // gzip named twice: the refusal wins.
        assert!(!accepts(&["gzip", "gzip;q=0"]));
        // Several header lines are one list.
        assert!(accepts(&["identity", "gzip"]));
    }

    #[test]
    fn non_ascii_values_are_ignored() {
        let values = [HeaderValue::from_bytes(b"gzip\xff").unwrap()];
        assert!(!accepts_gzip(&values));
    }
}
