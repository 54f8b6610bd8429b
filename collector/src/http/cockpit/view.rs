//! What every cockpit page shares: the page frame (title, language, kiosk, refresh), the
//! formatting of figures and times, and the names of inventory items in the page's
//! language. Pure.

use super::text::{Key, Lang};
use crate::inventory::Inventory;

/// The frame of a page (`templates/cockpit/base.html`).
#[derive(Debug, Clone)]
pub struct Frame {
    /// Language of the page.
    pub lang: Lang,
    /// Wall-screen mode: no navigation, larger type.
    pub kiosk: bool,
    /// Seconds between two refreshes of the page's content.
    pub refresh_seconds: u64,
    /// The page's own path, for the language and kiosk switches.
    pub path: String,
    /// Organisation name (or the product's), in the page's language.
    pub organisation: String,
    /// "as of" time, local to the reporting time zone.
    pub as_of: String,
    /// The reporting time zone's name.
    pub time_zone: String,
    /// The page's title.
    pub title: String,
    /// Extra query (`range=7d`) kept by the switches.
    pub extra_query: String,
}

impl Frame {
    /// A text in the page's language.
    pub fn t(&self, key: Key) -> &'static str {
        self.lang.t(key)
    }

    /// `href` to `path` keeping the page's language and kiosk mode.
    pub fn href(&self, path: &str) -> String {
        let mut q = format!("{path}?lang={}", self.lang.code());
        if self.kiosk {
            q.push_str("&kiosk=1");
        }
        q
    }

    /// This page in the other language.
    pub fn other_lang_href(&self) -> String {
        let mut q = format!("{}?lang={}", self.path, self.lang.other().code());
        if self.kiosk {
            q.push_str("&kiosk=1");
        }
        if !self.extra_query.is_empty() {
            q.push('&');
            q.push_str(&self.extra_query);
        }
        q
    }

    /// This page with kiosk mode toggled.
    pub fn kiosk_href(&self) -> String {
        let mut q = format!("{}?lang={}", self.path, self.lang.code());
        if !self.kiosk {
            q.push_str("&kiosk=1");
        }
        if !self.extra_query.is_empty() {
            q.push('&');
            q.push_str(&self.extra_query);
        }
        q
    }
}

/// `s` as one URL path segment: bytes outside RFC 3986's unreserved set percent-encoded,
/// so a label value with `/`, `?` or `#` still links to its own page (the route decodes it).
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A ratio as a percentage with enough digits to tell 99.9 % from 99.99 %; "—" for none.
pub fn pct(v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        // Rounded down: 99.99996 % must not read as 100 %, nor a missed 99.9 % target as met.
        Some(v) if (0.999_95..1.0).contains(&v) => {
            format!("{:.3}%", (v * 100_000.0).floor() / 1000.0)
        }
        Some(v) => format!("{:.2}%", (v * 10_000.0).floor() / 100.0),
    }
}

/// A local time, `MM-DD HH:MM`, in the inventory's time zone.
pub fn time(inv: &Inventory, unix_ms: i64) -> String {
    let full = crate::month::local_time(inv, unix_ms);
    // `YYYY-MM-DD HH:MM`: the year is the page's "as of" year nearly always.
    full.get(5..).map_or(full.clone(), str::to_owned)
}

/// A duration as `2d 3h`, `3h 12m`, `12m`; Chinese units in Chinese.
pub fn duration(lang: Lang, ms: i64) -> String {
    let minutes = (ms.max(0) + 59_999) / 60_000;
    let (d, h, m) = (minutes / 1440, (minutes / 60) % 24, minutes % 60);
    let (ud, uh, um) = match lang {
        Lang::Zh => ("天", "小时", "分"),
        Lang::En => ("d", "h", "m"),
    };
    let sep = if lang == Lang::En { " " } else { "" };
    if d > 0 {
        format!("{d}{ud}{sep}{h}{uh}")
    } else if h > 0 {
        format!("{h}{uh}{sep}{m}{um}")
    } else {
        format!("{m}{um}")
    }
}

/// The name of a department, data center, site or link in `lang`, or the code itself.
pub fn name(inv: &Inventory, lang: Lang, kind: NameKind, code: &str) -> String {
    let found = match kind {
        NameKind::Department => inv
            .department(code)
            .map(|d| lang.name(&d.name_zh, &d.name_en, &d.code)),
        NameKind::DataCenter => inv
            .data_center(code)
            .map(|d| lang.name(&d.name_zh, &d.name_en, &d.code)),
        NameKind::Site => inv
            .site(code)
            .map(|d| lang.name(&d.name_zh, &d.name_en, &d.code)),
        NameKind::Link => inv
            .link(code)
            .map(|d| lang.name(&d.name_zh, &d.name_en, &d.id)),
    };
    match found {
        Some(n) => n.to_owned(),
        None if code.is_empty() => match lang {
            Lang::Zh => "未标注".into(),
            Lang::En => "unlabelled".into(),
        },
        None => code.to_owned(),
    }
}

/// Which inventory list a code names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// `departments`.
    Department,
    /// `data_centers`.
    DataCenter,
    /// `sites`.
    Site,
    /// `links`.
    Link,
}

/// A backbone level in `lang`.
pub fn level_name(lang: Lang, level: &str) -> String {
    let zh = match level {
        "province-city" => "省-市",
        "city-county" => "市-县",
        "county-township" => "县-乡镇",
        "access" => "接入",
        "" => return lang.t(Key::Unknown).to_owned(),
        other => other,
    };
    match lang {
        Lang::Zh => zh.to_owned(),
        Lang::En => level.to_owned(),
    }
}

/// A network domain in `lang`.
pub fn domain_name(lang: Lang, domain: &str) -> String {
    match (lang, domain) {
        (Lang::Zh, "administrative") => "政务外网".into(),
        (Lang::Zh, "public") => "互联网".into(),
        (_, "") => "—".into(),
        (_, d) => d.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_as_an_operator_expects() {
        assert_eq!(pct(None), "—");
        assert_eq!(pct(Some(1.0)), "100.00%");
        assert_eq!(pct(Some(0.99995)), "99.995%");
        assert_eq!(pct(Some(0.95)), "95.00%");
        assert_eq!(
            pct(Some(0.999_999_6)),
            "99.999%",
            "never rounded up to 100 %"
        );
        assert_eq!(
            pct(Some(0.998_99)),
            "99.89%",
            "a missed 99.9 % reads as missed"
        );
        assert_eq!(duration(Lang::En, 59_000), "1m");
        assert_eq!(duration(Lang::En, 3 * 3_600_000 + 12 * 60_000), "3h 12m");
        assert_eq!(duration(Lang::Zh, 26 * 3_600_000), "1天2小时");
        assert_eq!(level_name(Lang::Zh, "city-county"), "市-县");
        assert_eq!(segment("dc-1"), "dc-1");
        assert_eq!(segment("a/b?c#d 局"), "a%2Fb%3Fc%23d%20%E5%B1%80");
        assert_eq!(level_name(Lang::En, "city-county"), "city-county");
        assert_eq!(domain_name(Lang::Zh, "public"), "互联网");
    }

    #[test]
    fn switches_keep_the_language_kiosk_and_range() {
        let f = Frame {
            lang: Lang::Zh,
            kiosk: true,
            refresh_seconds: 30,
            path: "/host/a".into(),
            organisation: String::new(),
            as_of: String::new(),
            time_zone: String::new(),
            title: String::new(),
            extra_query: "range=7d".into(),
        };
        assert_eq!(f.href("/"), "/?lang=zh-CN&kiosk=1");
        assert_eq!(f.other_lang_href(), "/host/a?lang=en&kiosk=1&range=7d");
        assert_eq!(f.kiosk_href(), "/host/a?lang=zh-CN&range=7d");
    }
}
