//! The link engine: from the probe windows of every vantage point to link states, down
//! periods and faults. Pure: no I/O and no clock, every time comes from the windows.
//!
//! # Model (operator's version: `docs/links.md`)
//!
//! * **Probe stream.** Per vantage point (link, agent) the windows are read in order as one
//!   stream of probe outcomes. Loss runs place the lost probes to the probe; the successes
//!   between runs are counted from send times and the probe interval. A run with `open_end`
//!   simply continues into the next window's `open_start` run: nothing succeeded in between,
//!   so the stream has no success there. That is the whole of the stitching.
//! * **Hysteresis.** A vantage point goes down after `down_confirm_probes` consecutive lost
//!   probes; the down period starts at the send time of the first of them. It comes back up
//!   after `up_confirm_probes` consecutive successes; the period ends at the send time of the
//!   first of those. Shorter runs change nothing.
//! * **Evidence.** A vantage point covers the time from its first probe to its last probe
//!   plus one interval. A pause between two windows of more than [`EVIDENCE_GAP_PROBES`]
//!   intervals (agent stopped, host rebooted) is time without evidence: a down period open
//!   at the pause ends where the evidence ends, and pending runs are forgotten.
//! * **Link level.** The link is down at a time when at least one vantage point covers it and
//!   every vantage point covering it is down ("probe loss at the down threshold from every
//!   vantage point that reported"). A link-level down period lasting `fault_min` or more is a
//!   **fault**; a shorter one is down-time only.
//! * **Settling.** Evidence arrives late and out of step across vantage points, and a pending
//!   run can move a start back in time. So each vantage point has a *settled horizon* (before
//!   it nothing it reports later can change: the start of a pending run, else the end of its
//!   evidence), and the link's settled horizon is the smallest of those of its live vantage
//!   points (a vantage point silent for more than [`STALE_WINDOWS`] of its windows behind the
//!   newest one is stale and does not hold the link back), and at least one report window
//!   behind the newest evidence, so that the first window of a vantage point the engine has
//!   not seen yet still counts. Down periods that end before the
//!   link's settled horizon are final: their faults are returned once, to be stored, and
//!   counted. Everything after it is recomputed on each window and shown as tentative.
//! * **Counters** only ever grow: down time is counted up to the settled horizon, a fault is
//!   counted once its settled part reaches `fault_min` (so an ongoing fault counts before it
//!   ends), and probe counters add every accepted window.

mod stream;
mod track;
mod vantage;
mod views;

use std::collections::{BTreeMap, VecDeque};

use zerofault_protocol::LinkResult;

use super::settings::Links;
pub use stream::{ProbeStream, Step};
use track::LinkTrack;
use views::RECENT_FAULTS;
pub use views::{
    EVIDENCE_GAP_PROBES, Fault, Ignored, LinkState, LinkView, MIN_STALE_MS, STALE_WINDOWS,
    VantageView, WindowSummary,
};

/// What one observation brings: a window, or several joined.
struct Taken<'a> {
    link_id: &'a str,
    level: &'a str,
    domain: &'a str,
    start_ms: i64,
    end_ms: i64,
    sent: u64,
    received: u64,
    /// `None` when no probe finished.
    stream: Option<&'a ProbeStream>,
}

/// The engine: every link, every vantage point.
#[derive(Debug)]
pub struct LinkEngine {
    config: Links,
    links: BTreeMap<String, LinkTrack>,
    /// Recently settled faults, oldest first.
    recent: VecDeque<Fault>,
    /// Keep every link-level down period (for [`down_periods`]; off in the live collector,
    /// where the list would grow without bound).
    record_downs: bool,
    /// Compute link-level periods only when asked, from all the evidence taken
    /// ([`stream_down_periods`]), instead of settling as windows arrive.
    deferred: bool,
}

impl LinkEngine {
    /// An empty engine.
    pub fn new(config: Links) -> LinkEngine {
        LinkEngine {
            config,
            links: BTreeMap::new(),
            recent: VecDeque::new(),
            record_downs: false,
            deferred: false,
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &Links {
        &self.config
    }

    /// Takes one window of `agent` (windows of one vantage point in arrival order). Returns
    /// the faults that became final with it, each exactly once.
    pub fn observe(&mut self, agent: &str, w: &LinkResult) -> Result<Vec<Fault>, Ignored> {
        let stream = ProbeStream::of_window(w);
        let th = self.config.thresholds.for_level(&w.level);
        let (down_loss, down_probes) =
            (self.config.down_loss_ratio, self.config.down_confirm_probes);
        let summary = |down: bool| {
            let received = w.received.min(w.sent);
            let loss_ratio = f64::from(w.sent - received) / f64::from(w.sent);
            let state = if down || (w.sent >= down_probes && loss_ratio >= down_loss) {
                LinkState::Down
            } else if loss_ratio >= th.degraded_loss_ratio
                || (w.received > 0 && w.rtt_avg_seconds >= th.degraded_rtt.as_secs_f64())
            {
                LinkState::Degraded
            } else {
                LinkState::Up
            };
            WindowSummary {
                window_start_unix_ms: w.window_start_unix_ms,
                window_end_unix_ms: w.window_end_unix_ms,
                sent: w.sent,
                received,
                loss_ratio,
                rtt_min_seconds: w.rtt_min_seconds,
                rtt_avg_seconds: w.rtt_avg_seconds,
                rtt_max_seconds: w.rtt_max_seconds,
                rtt_p95_seconds: w.rtt_p95_seconds,
                jitter_seconds: w.jitter_seconds,
                state,
            }
        };
        self.advance(
            agent,
            Taken {
                link_id: &w.link_id,
                level: &w.level,
                domain: &w.domain,
                start_ms: w.window_start_unix_ms,
                end_ms: w.window_end_unix_ms,
                sent: u64::from(w.sent),
                received: u64::from(w.received.min(w.sent)),
                stream: stream.as_ref(),
            },
            Some(&summary),
        )
    }

    /// Takes the probe stream of several contiguous windows of `agent` at once, as the link
    /// rollups keep them (`crate::rollup::links`): the same rules as [`Self::observe`] of each
    /// window, without the newest window's figures (which only the live views show).
    pub fn observe_stream(
        &mut self,
        agent: &str,
        link_id: &str,
        level: &str,
        domain: &str,
        stream: &ProbeStream,
    ) -> Result<Vec<Fault>, Ignored> {
        self.advance(
            agent,
            Taken {
                link_id,
                level,
                domain,
                start_ms: stream.start_ms,
                end_ms: stream.end_ms,
                sent: stream.sent,
                received: stream.received,
                stream: Some(stream),
            },
            None,
        )
    }

    fn advance(
        &mut self,
        agent: &str,
        t: Taken<'_>,
        summary: Option<&dyn Fn(bool) -> WindowSummary>,
    ) -> Result<Vec<Fault>, Ignored> {
        let cfg = &self.config;
        let link = match self.links.get_mut(t.link_id) {
            Some(l) => l,
            None => self.links.entry(t.link_id.to_owned()).or_default(),
        };
        let v = match link.vantages.get_mut(agent) {
            Some(v) => v,
            None => link.vantages.entry(agent.to_owned()).or_default(),
        };
        if let Some(last) = v.last_window_end
            && t.end_ms <= last
        {
            return Err(Ignored::NotNewer {
                window_end_unix_ms: t.end_ms,
                last_end_unix_ms: last,
            });
        }
        v.last_window_end = Some(t.end_ms);
        if link.level != t.level {
            t.level.clone_into(&mut link.level);
        }
        if link.domain != t.domain {
            t.domain.clone_into(&mut link.domain);
        }
        v.window_ms = (t.end_ms - t.start_ms).max(0);
        v.sent_total += t.sent;
        v.received_total += t.received.min(t.sent);
        let Some(stream) = t.stream else {
            // No probe finished in this window: no evidence about the link.
            return Ok(Vec::new());
        };
        let (interval, first_probe, last_probe) = (
            stream.interval_ms,
            stream.first_probe_ms,
            stream.last_probe_ms,
        );

        // Continuity with the previous window of this vantage point.
        let contiguous = v
            .last_probe
            .is_some_and(|p| first_probe.saturating_sub(p) <= EVIDENCE_GAP_PROBES * interval);
        if v.last_probe.is_some() && !contiguous {
            v.break_evidence();
        }
        let end = last_probe.saturating_add(interval);
        match v.coverage.last_mut() {
            Some(c) if contiguous => c.1 = c.1.max(end),
            _ => v.coverage.push((first_probe, end)),
        }
        for step in &stream.steps {
            v.step(*step, cfg);
        }
        v.last_probe = Some(last_probe);
        v.horizon = v.horizon.max(end);
        if let Some(summary) = summary {
            v.last = Some(summary(v.is_down()));
        }

        if self.deferred {
            // The month's replay: the link is computed once, from all of its evidence.
            return Ok(Vec::new());
        }
        let settled = link.recompute(t.link_id, cfg, self.record_downs, true);
        for f in &settled {
            if self.recent.len() == RECENT_FAULTS {
                self.recent.pop_front();
            }
            self.recent.push_back(f.clone());
        }
        Ok(settled)
    }

    /// Every link, by link id.
    pub fn links(&self) -> Vec<LinkView> {
        self.links.iter().map(|(id, l)| l.view(id)).collect()
    }

    /// Recently settled faults and the tentative ones (ongoing, or waiting for another
    /// vantage point), optionally of one link, by start time.
    pub fn faults(&self, link: Option<&str>) -> Vec<Fault> {
        let wanted = |f: &&Fault| link.is_none_or(|l| f.link_id == l);
        let mut out: Vec<Fault> = self
            .recent
            .iter()
            .filter(wanted)
            .cloned()
            .chain(
                self.links
                    .values()
                    .flat_map(|l| l.pending.iter())
                    .filter(wanted)
                    .cloned(),
            )
            .collect();
        out.sort_by(|a, b| (a.start_unix_ms, &a.link_id).cmp(&(b.start_unix_ms, &b.link_id)));
        out
    }
}

/// Every link-level down period `[start, end)` (agent clock ms) of each link, **including
/// those shorter than `fault_min`**, from windows given as `(agent, window)` in arrival
/// order: the same hysteresis, vantage-point and evidence rules as the live engine (this
/// replays them through one). A period still open at the newest evidence ends there. Used by
/// the SLA engine, which places down time on its slots itself.
pub fn down_periods<'a, W: std::borrow::Borrow<LinkResult>>(
    config: Links,
    windows: impl IntoIterator<Item = (&'a str, W)>,
) -> BTreeMap<String, Vec<(i64, i64)>> {
    let mut e = LinkEngine::new(config);
    e.record_downs = true;
    for (agent, w) in windows {
        // A window the engine ignores (not newer) changes nothing, as live.
        let _ = e.observe(agent, w.borrow());
    }
    e.links
        .into_iter()
        .map(|(id, l)| {
            let mut d = l.settled_downs;
            d.extend(l.tentative_downs);
            (id, d)
        })
        .collect()
}

/// Every link-level down period `[start, end)` of one link from its vantage points' probe
/// streams given as `(agent, stream)`, each vantage point's in time order: the same
/// hysteresis, vantage-point and evidence rules as the live engine, but the link-level
/// periods are computed **once, from all the evidence**, not settled as it arrives. The
/// month replays pieces of up to a day (`crate::rollup::links`), and settling by arrival
/// would fix a down period seen from one vantage point before a second one's long piece,
/// arriving later, showed the link answering then; with all the evidence the answer does
/// not depend on the order the vantage points are fed in.
pub fn stream_down_periods<'a>(
    config: Links,
    link_id: &str,
    streams: impl IntoIterator<Item = (&'a str, &'a ProbeStream)>,
) -> Vec<(i64, i64)> {
    let mut e = LinkEngine::new(config);
    e.record_downs = true;
    e.deferred = true;
    for (agent, s) in streams {
        // A stream the engine ignores (not newer) changes nothing, as live.
        let _ = e.observe_stream(agent, link_id, "", "", s);
    }
    let cfg = e.config.clone();
    e.links
        .remove(link_id)
        .map(|mut l| {
            l.recompute(link_id, &cfg, true, false);
            l.tentative_downs
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
