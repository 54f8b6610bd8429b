//! Half-open spans of time, as the rollups keep coverage and degraded time.

/// A half-open span `[from, to)` in the bucket's coordinate.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, prost::Message)]
pub struct Span {
    /// Start, ms.
    #[prost(int64, tag = "1")]
    pub from: i64,
    /// End, ms.
    #[prost(int64, tag = "2")]
    pub to: i64,
}

/// Sorts and merges spans (touching ones too), dropping empty ones.
pub fn merge_spans(mut v: Vec<Span>) -> Vec<Span> {
    v.retain(|s| s.from < s.to);
    v.sort_unstable();
    let mut out: Vec<Span> = Vec::with_capacity(v.len());
    for s in v {
        match out.last_mut() {
            Some(last) if s.from <= last.to => last.to = last.to.max(s.to),
            _ => out.push(s),
        }
    }
    out
}
