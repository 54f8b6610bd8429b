//! Root cause: a host or link that is down while a link in front of it is down was not a
//! separate failure.
//!
//! # Rule
//!
//! * Topology is given per link: the hosts and the links behind it (the sites in the subtree
//!   of its far end), directly or transitively.
//! * A down slot of an item (host or link) is **suppressed** when some link it is behind is
//!   down in that slot. The slot stays `down` for availability (the service *was*
//!   unreachable), but suppressed slots never make a fault of that item.
//! * The **cause** of a suppressed slot is the outermost down link: among the links the item
//!   is behind that are down in the slot, one that is not itself suppressed in it (with a
//!   chain of direct parents only, the cause of the suppressing link is followed instead).
//!   When several qualify (a topology that is not a tree), the lowest link index wins, so the
//!   answer is deterministic. A cycle in the topology suppresses nothing.
//! * Maintenance is not down: a link in maintenance suppresses nothing.

use std::borrow::Borrow;

use super::slots::Timeline;

/// A suppressed stretch `[start, end)` of slots of one item, with the index of the link that
/// caused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seg {
    pub start: u32,
    pub end: u32,
    pub cause: u32,
}

/// The suppressed stretches of every host and link, sorted by start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Suppression {
    pub hosts: Vec<Vec<Seg>>,
    pub links: Vec<Vec<Seg>>,
}

/// Deepest chain of suppressing links followed; deeper means a cycle.
const MAX_DEPTH: u32 = 64;

/// Intersection of two sorted lists of disjoint slot ranges.
fn intersect(a: &[(u32, u32)], b: &[(u32, u32)], mut out: impl FnMut(u32, u32)) {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let s = a[i].0.max(b[j].0);
        let e = a[i].1.min(b[j].1);
        if s < e {
            out(s, e);
        }
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
}

/// Candidates of one item: (start, end, link) where that link and the item were both down.
type Cands = Vec<(u32, u32, u32)>;

struct Resolver<'a> {
    link_cands: &'a [Cands],
}

impl Resolver<'_> {
    fn suppressed(&self, link: u32, s: u32) -> bool {
        self.link_cands[link as usize]
            .iter()
            .any(|&(a, b, _)| a <= s && s < b)
    }

    /// The outermost down link in front of an item with candidates `cands` at slot `s`.
    fn cause(&self, cands: &Cands, s: u32, depth: u32) -> Option<u32> {
        if depth > MAX_DEPTH {
            return None;
        }
        let mut best: Option<u32> = None;
        for &(a, b, c) in cands {
            if a <= s && s < b {
                let found = if self.suppressed(c, s) {
                    self.cause(&self.link_cands[c as usize], s, depth + 1)
                } else {
                    Some(c)
                };
                if let Some(f) = found {
                    best = Some(best.map_or(f, |x| x.min(f)));
                }
            }
        }
        best
    }

    /// The suppressed stretches of an item with candidates `cands`.
    fn segments(&self, cands: &Cands) -> Vec<Seg> {
        let mut slots: Vec<(i64, i64)> = cands
            .iter()
            .map(|&(a, b, _)| (i64::from(a), i64::from(b)))
            .collect();
        super::slots::merge(&mut slots);
        let mut out: Vec<Seg> = Vec::new();
        for (a, b) in slots {
            for s in a as u32..b as u32 {
                let Some(cause) = self.cause(cands, s, 0) else {
                    continue;
                };
                match out.last_mut() {
                    Some(g) if g.end == s && g.cause == cause => g.end = s + 1,
                    _ => out.push(Seg {
                        start: s,
                        end: s + 1,
                        cause,
                    }),
                }
            }
        }
        out
    }
}

/// Finds the suppressed stretches of every item. `behind_links[l]` and `behind_hosts[l]` are
/// the indices of the links and hosts behind link `l`.
pub(crate) fn suppress(
    links: &[impl Borrow<Timeline>],
    hosts: &[Timeline],
    behind_links: &[Vec<u32>],
    behind_hosts: &[Vec<u32>],
) -> Suppression {
    let link_down: Vec<Vec<(u32, u32)>> = links
        .iter()
        .map(|t| t.borrow().down_runs().collect())
        .collect();
    let mut link_cands: Vec<Cands> = vec![Vec::new(); links.len()];
    let mut host_cands: Vec<Cands> = vec![Vec::new(); hosts.len()];
    let mut host_down: Vec<Option<Vec<(u32, u32)>>> = vec![None; hosts.len()];
    for (l, down) in link_down.iter().enumerate() {
        if down.is_empty() {
            continue;
        }
        for &x in &behind_links[l] {
            if x as usize == l {
                continue;
            }
            intersect(down, &link_down[x as usize], |a, b| {
                link_cands[x as usize].push((a, b, l as u32));
            });
        }
        for &h in &behind_hosts[l] {
            let hd = host_down[h as usize]
                .get_or_insert_with(|| hosts[h as usize].down_runs().collect());
            intersect(down, hd, |a, b| {
                host_cands[h as usize].push((a, b, l as u32));
            });
        }
    }
    let r = Resolver {
        link_cands: &link_cands,
    };
    Suppression {
        links: link_cands.iter().map(|c| r.segments(c)).collect(),
        hosts: host_cands.iter().map(|c| r.segments(c)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::month::sla::slots::code::{DOWN, UP};

    fn tl(codes: &[u8]) -> Timeline {
        Timeline::from_codes(codes)
    }

    fn seg(start: u32, end: u32, cause: u32) -> Seg {
        Seg { start, end, cause }
    }

    #[test]
    fn host_behind_a_down_link_is_suppressed_only_while_the_link_is_down() {
        let links = [tl(&[UP, DOWN, DOWN, UP, UP])];
        let hosts = [
            tl(&[DOWN, DOWN, DOWN, DOWN, UP]),
            tl(&[DOWN, UP, UP, UP, UP]),
        ];
        let s = suppress(&links, &hosts, &[vec![]], &[vec![0]]);
        assert_eq!(s.hosts[0], vec![seg(1, 3, 0)]);
        // Host 1 is not behind link 0: its down stays its own.
        assert!(s.hosts[1].is_empty());
        assert!(s.links[0].is_empty());
    }

    #[test]
    fn nested_outages_are_caused_by_the_outermost_link_transitive_lists() {
        // 0 (province-city) -> 1 (city-county) -> host 0.
        let links = [tl(&[UP, DOWN, DOWN, UP]), tl(&[DOWN, DOWN, DOWN, DOWN])];
        let hosts = [tl(&[DOWN, DOWN, DOWN, DOWN])];
        let s = suppress(&links, &hosts, &[vec![1], vec![]], &[vec![0], vec![0]]);
        assert_eq!(s.links[1], vec![seg(1, 3, 0)]);
        assert!(s.links[0].is_empty());
        assert_eq!(
            s.hosts[0],
            vec![seg(0, 1, 1), seg(1, 3, 0), seg(3, 4, 1)],
            "the outer link is the cause while it is down, the inner one otherwise"
        );
    }

    #[test]
    fn nested_outages_follow_direct_parents() {
        // Only direct children listed: link 0 -> link 1 -> host 0.
        let links = [tl(&[DOWN, DOWN]), tl(&[DOWN, DOWN])];
        let hosts = [tl(&[DOWN, UP])];
        let s = suppress(&links, &hosts, &[vec![1], vec![]], &[vec![], vec![0]]);
        assert_eq!(s.hosts[0], vec![seg(0, 1, 0)]);
    }

    #[test]
    fn a_cycle_suppresses_nothing() {
        let links = [tl(&[DOWN]), tl(&[DOWN])];
        let s = suppress(&links, &[], &[vec![1], vec![0]], &[vec![], vec![]]);
        assert!(s.links.iter().all(Vec::is_empty), "{s:?}");
    }
}
