//! The link windows of a month as the report reads them: each vantage point's pieces
//! (`crate::rollup::links`, kept in its host's buckets) moved to the collector's clock by their
//! boot's placement while agents are read, then, per link, replayed through the live link
//! engine's rules into down periods and turned into the engine's link input (coverage,
//! degraded time, probe cells).

use std::collections::{BTreeMap, BTreeSet};

use super::host_buckets::AgentPlacement;
use crate::inventory::{Inventory, MaintenanceInterval, Named, Scope};
use crate::live::links::{Links, ProbeStream};
use crate::month::sla::input::{Interval, LinkCell, LinkInput};
use crate::rollup::StoredBucket;
use crate::rollup::links::{LinkDay, rtt_of_bin};

/// One piece of one vantage point, on the collector's clock.
#[derive(Debug, Clone)]
pub(super) struct PlacedPiece {
    /// Index into the agents in read order (see [`link_inputs`]).
    agent: u32,
    stream: ProbeStream,
    degraded: Vec<(i64, i64)>,
    cells: Vec<LinkCell>,
}

/// One link's pieces as read, and the level and domain its newest window reported (used
/// only when the inventory does not know the link; kept once per link, not per piece).
#[derive(Debug, Default)]
pub(super) struct LinkWindows {
    pieces: Vec<PlacedPiece>,
    /// `(end_ms, level, domain)` of the newest window, the greatest among equal ends.
    newest: Option<(i64, String, String)>,
}

impl LinkWindows {
    fn push(&mut self, piece: PlacedPiece, newest_end_ms: i64, day: &LinkDay) {
        let key = (newest_end_ms, day.level.as_str(), day.domain.as_str());
        let newer = match &self.newest {
            Some((e, l, d)) => key > (*e, l.as_str(), d.as_str()),
            None => true,
        };
        if newer {
            self.newest = Some((newest_end_ms, day.level.clone(), day.domain.clone()));
        }
        self.pieces.push(piece);
    }
}

/// Adds the link pieces of one agent's `buckets` (agent `index` in read order) that lie
/// within `[lo, hi)` once placed by `placement`.
pub(super) fn add_agent_links(
    by_link: &mut BTreeMap<String, LinkWindows>,
    index: u32,
    buckets: &[StoredBucket],
    placement: &AgentPlacement,
    (lo, hi): (i64, i64),
) {
    for b in buckets {
        for day in &b.bucket.links {
            for piece in &day.pieces {
                // Its boot's anchor minus its clock (agent time - uptime), or the agent's
                // offset without an uptime: where `month::placement` puts its reports.
                let offset = placement.time(&b.key.boot_id, piece.clock_min_ms.map(|c| -c), 0);
                let (start, end) = (
                    piece.start_ms.saturating_add(offset),
                    piece.end_ms.saturating_add(offset),
                );
                if end < lo || start >= hi {
                    continue;
                }
                let placed = PlacedPiece {
                    agent: index,
                    stream: piece.stream().shifted(offset),
                    degraded: piece
                        .degraded_spans(day.overflow)
                        .iter()
                        .map(|s| (s.from.saturating_add(offset), s.to.saturating_add(offset)))
                        .collect(),
                    cells: piece
                        .cells
                        .iter()
                        .map(|c| LinkCell {
                            start_ms: c.start_ms.saturating_add(offset),
                            end_ms: c.end_ms.saturating_add(offset),
                            windows: c.windows,
                            loss_ppm: c.loss_ppm,
                            rtt_us: c.rtt_us,
                            rtt_n: c.rtt_n,
                            jitter_us: c.jitter_us,
                            jitter_n: c.jitter_n,
                            rtts_ms: c
                                .rtts
                                .iter()
                                .map(|r| (rtt_of_bin(r.bin) / 1000.0, r.count))
                                .collect(),
                        })
                        .collect(),
                };
                let link = match by_link.get_mut(&day.link_id) {
                    Some(l) => l,
                    None => by_link.entry(day.link_id.clone()).or_default(),
                };
                link.push(placed, day.newest_end_ms.saturating_add(offset), day);
            }
        }
    }
}

/// Every link-level down period of one link, from its vantage points' pieces (collector
/// clock), through the live link engine's rules ([`crate::live::links::stream_down_periods`]),
/// fed in the order they would have arrived live: by end.
fn down_periods(
    links_config: &Links,
    link_id: &str,
    pieces: &mut [PlacedPiece],
    agents: &[String],
) -> Vec<Interval> {
    pieces.sort_by_key(|p| (p.stream.end_ms, p.agent, p.stream.start_ms));
    crate::live::links::stream_down_periods(
        links_config.clone(),
        link_id,
        pieces
            .iter()
            .map(|p| (agents[p.agent as usize].as_str(), &p.stream)),
    )
    .into_iter()
    .map(|(a, b)| Interval::new(a, b))
    .collect()
}

/// Every link of the inventory and every link id seen in `windows`, one at a time for the
/// engine (each link's windows are dropped once its input is made). `agents` are the agents
/// in read order (a window's [`PlacedWindow::agent`] indexes it); `host_sites` the (agent,
/// site label) of every host, to find who is behind a link.
pub(super) fn link_inputs<'a>(
    inventory: &'a Inventory,
    links_config: &'a Links,
    lang: &'a str,
    maintenance: &'a [MaintenanceInterval],
    mut by_link: BTreeMap<String, LinkWindows>,
    agents: &'a [String],
    host_sites: &'a [(String, String)],
) -> impl Iterator<Item = LinkInput> + 'a {
    let mut ids: BTreeSet<String> = inventory.links.iter().map(|l| l.id.clone()).collect();
    ids.extend(by_link.keys().cloned());
    ids.into_iter().map(move |id| {
        let LinkWindows { mut pieces, newest } = by_link.remove(&id).unwrap_or_default();
        let inv = inventory.link(&id);
        let (level, domain) = match inv {
            Some(l) => (l.level.as_str().to_owned(), l.domain.as_str().to_owned()),
            None => newest.map(|(_, l, d)| (l, d)).unwrap_or_default(),
        };
        let down = down_periods(links_config, &id, &mut pieces, agents);
        let coverage = pieces
            .iter()
            .map(|p| Interval::new(p.stream.start_ms, p.stream.end_ms))
            .collect();
        let degraded = pieces
            .iter()
            .flat_map(|p| p.degraded.iter().map(|&(a, b)| Interval::new(a, b)))
            .collect();
        let cells = pieces.into_iter().flat_map(|p| p.cells).collect();
        let (from_site, to_site, name, target) = match inv {
            Some(l) => (
                l.from.clone(),
                l.to.clone(),
                l.name(lang).to_owned(),
                Some(inventory.link_target(l)),
            ),
            None => (String::new(), String::new(), String::new(), None),
        };
        let behind = inv.map(|_| inventory.links_behind(&id)).unwrap_or_default();
        LinkInput {
            maintenance: maintenance
                .iter()
                .filter(|m| match &m.scope {
                    Scope::Link(v) => *v == id,
                    // A site's maintenance covers the link that reaches it.
                    Scope::Site(v) => !to_site.is_empty() && *v == to_site,
                    _ => false,
                })
                .map(|m| Interval::new(m.start_unix_ms, m.end_unix_ms))
                .collect(),
            behind_hosts: host_sites
                .iter()
                .filter(|(_, site)| behind.sites.contains(site))
                .map(|(a, _)| a.clone())
                .collect(),
            behind_links: behind.links.iter().cloned().collect(),
            link_id: id,
            name,
            level,
            domain,
            from_site,
            to_site,
            target,
            down,
            coverage,
            degraded,
            cells,
        }
    })
}
