//! What happens during the month: the sites and links, and each host's schedule (when it
//! reports, reboots, falls silent, and when its reports reach the collector).
//!
//! All times are the collector's (true) clock in ms; a host's own clock is
//! [`HostPlan::agent_clock`].

/// A site of the topology.
#[derive(Debug, Clone)]
pub struct Site {
    /// Its inventory code.
    pub code: String,
    /// `province`, `city`, `county` or `township`.
    pub level: &'static str,
    /// `administrative` or `public`.
    pub domain: &'static str,
    /// The site above it, `None` for a province.
    pub parent: Option<usize>,
    /// The link whose far end it is.
    pub link: Option<usize>,
}

/// A backbone link between two sites.
#[derive(Debug, Clone)]
pub struct LinkPlan {
    /// Its inventory id.
    pub id: String,
    /// `province-city`, `city-county` or `county-township`.
    pub level: &'static str,
    /// `administrative` or `public`.
    pub domain: &'static str,
    /// Near end (site index).
    pub from: usize,
    /// Far end (site index).
    pub to: usize,
    /// Its own outages `[start, end)`: every probe sent across it then is lost.
    pub outages: Vec<(i64, i64)>,
    /// Round-trip time of a probe, ms (the noisy model adds up to 0.4 ms per window).
    pub rtt_ms: f64,
    /// Spans `[start, end)` with another round-trip time, ms (a degraded link).
    pub slow: Vec<(i64, i64, f64)>,
    /// (vantage site, link): a probe from that site crosses that link first, so it is also
    /// lost during that link's outages.
    pub via: Vec<(usize, usize)>,
}

impl LinkPlan {
    /// Whether the link itself is out at `t`.
    pub fn out(&self, t: i64) -> bool {
        self.outages.iter().any(|&(a, b)| (a..b).contains(&t))
    }
}

/// Sites and links.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    /// Every site; a parent comes before its children.
    pub sites: Vec<Site>,
    /// Every link.
    pub links: Vec<LinkPlan>,
}

impl Topology {
    /// Adds a site and returns its index.
    pub fn add_site(
        &mut self,
        code: String,
        level: &'static str,
        domain: &'static str,
        parent: Option<usize>,
    ) -> usize {
        self.sites.push(Site {
            code,
            level,
            domain,
            parent,
            link: None,
        });
        self.sites.len() - 1
    }

    /// Adds a link from `from` to `to` (no outage, RTT 0) and returns its index.
    pub fn add_link(
        &mut self,
        id: String,
        level: &'static str,
        domain: &'static str,
        from: usize,
        to: usize,
    ) -> usize {
        self.links.push(LinkPlan {
            id,
            level,
            domain,
            from,
            to,
            outages: Vec::new(),
            rtt_ms: 0.0,
            slow: Vec::new(),
            via: Vec::new(),
        });
        let j = self.links.len() - 1;
        self.sites[to].link = Some(j);
        j
    }

    /// The index of the site `code`.
    ///
    /// # Panics
    ///
    /// When there is none: a schedule names only sites it declared.
    pub fn site(&self, code: &str) -> usize {
        self.sites
            .iter()
            .position(|s| s.code == code)
            .unwrap_or_else(|| panic!("no site {code}"))
    }

    /// The index of the link `id`.
    ///
    /// # Panics
    ///
    /// When there is none.
    pub fn link(&self, id: &str) -> usize {
        self.links
            .iter()
            .position(|l| l.id == id)
            .unwrap_or_else(|| panic!("no link {id}"))
    }

    /// Links on the way from the core to `site`, nearest first.
    pub fn links_above(&self, site: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut s = Some(site);
        while let Some(i) = s {
            if let Some(l) = self.sites[i].link {
                out.push(l);
            }
            s = self.sites[i].parent;
        }
        out
    }
}

/// Reports due in `[start, end)` are not made (the host is down, or its agent stopped).
#[derive(Debug, Clone, Copy)]
pub struct Silence {
    /// First time without reports.
    pub start: i64,
    /// First time with reports again.
    pub end: i64,
    /// `Some(boot time)`: the host comes back with a new boot (before `end`).
    pub boot: Option<i64>,
}

/// Reports made in `[start, end)` do not arrive on time.
#[derive(Debug, Clone, Copy)]
pub struct Delivery {
    /// First report time concerned.
    pub start: i64,
    /// End of the span.
    pub end: i64,
    /// `Some(at)`: the k-th report of the span (k from 1) arrives at `at + k * spacing`
    /// (held in the agent's spool, then backfilled); `None`: it never arrives, and leaves
    /// the spool at `end`.
    pub at: Option<i64>,
    /// Time between backfilled reports.
    pub spacing: i64,
}

/// The schedule of one host.
#[derive(Debug, Clone)]
pub struct HostPlan {
    /// Agent id (= certificate name).
    pub id: String,
    /// Department label.
    pub department: String,
    /// Business system label (empty: none).
    pub business_system: String,
    /// Data center label.
    pub data_center: String,
    /// Its site (index in the topology).
    pub site: usize,
    /// Agent clock minus true time.
    pub skew: i64,
    /// From this true time on, the agent clock is stepped by this much.
    pub step: Option<(i64, i64)>,
    /// Offset of its report times from the interval grid.
    pub phase: i64,
    /// Spans without reports.
    pub silences: Vec<Silence>,
    /// Spans whose reports arrive late or never; where two overlap, a lost report stays lost
    /// and otherwise the later arrival counts.
    pub deliveries: Vec<Delivery>,
    /// Links it probes (indexes in the topology).
    pub probes: Vec<usize>,
}

/// How every host's report stream is laid out.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Report interval, ms.
    pub interval: i64,
    /// Boot time of every host's first boot.
    pub first_boot: i64,
    /// Receive time minus report time of a report delivered on time.
    pub delay: i64,
    /// How reports are numbered.
    pub sequence: Sequence,
}

/// How a host numbers its reports.
#[derive(Debug, Clone, Copy)]
pub enum Sequence {
    /// One more for each report made, from this number.
    Count(u64),
    /// The number of report intervals since this time (a gap skips numbers).
    Grid(i64),
}

/// One report a host made.
#[derive(Debug, Clone)]
pub struct Made {
    /// Report time (true time).
    pub t: i64,
    /// Boot number, 0 for the first.
    pub boot: usize,
    /// Boot time of that boot (true time).
    pub boot_time: i64,
    /// Its sequence number.
    pub sequence: u64,
    /// Receive time; `None`: never delivered.
    pub received: Option<i64>,
    /// Earlier reports still unacknowledged when it was made (the agent's spool).
    pub pending: u64,
    /// Agent time of the oldest of them (0 when none).
    pub oldest_unsent: i64,
}

impl HostPlan {
    /// The agent's clock at true time `t`.
    pub fn agent_clock(&self, t: i64) -> i64 {
        let step = self
            .step
            .filter(|(from, _)| t >= *from)
            .map_or(0, |(_, d)| d);
        t + self.skew + step
    }

    /// Boot times of the reboots, in order (boot 1, 2, ...).
    pub fn reboots(&self) -> Vec<i64> {
        let mut ends: Vec<(i64, i64)> = self
            .silences
            .iter()
            .filter_map(|s| s.boot.map(|b| (s.end, b)))
            .collect();
        ends.sort_unstable();
        ends.into_iter().map(|(_, b)| b).collect()
    }

    /// Boot times of every boot, the first one included.
    pub fn boots(&self, timing: &Timing) -> Vec<i64> {
        let mut boots = vec![timing.first_boot];
        boots.extend(self.reboots());
        boots
    }

    /// The reports made at the times `t` of its grid with `from < t < to`: outside its
    /// silences, in the boot it was in then, with their receive times and the agent's spool
    /// at each.
    pub fn made(&self, timing: &Timing, from: i64, to: i64) -> Vec<Made> {
        let interval = timing.interval;
        let boots = self.boots(timing);
        let mut ends: Vec<i64> = self
            .silences
            .iter()
            .filter(|s| s.boot.is_some())
            .map(|s| s.end)
            .collect();
        ends.sort_unstable();
        let first = (from - self.phase).div_euclid(interval) + 1;
        let mut out = Vec::with_capacity(((to - from) / interval + 1).max(0) as usize);
        let mut boot = 0usize;
        let mut count = match timing.sequence {
            Sequence::Count(first) => first,
            Sequence::Grid(_) => 0,
        };
        let mut delivered = vec![0i64; self.deliveries.len()];
        // (acknowledged at, made at) of reports not yet acknowledged.
        let mut unsent: Vec<(i64, i64)> = Vec::new();
        let mut t = first * interval + self.phase;
        while t < to {
            while boot < ends.len() && ends[boot] <= t {
                boot += 1;
            }
            if self.silences.iter().any(|s| s.start <= t && t < s.end) {
                t += interval;
                continue;
            }
            let (mut late, mut lost) = (None::<i64>, None::<i64>);
            for (d, k) in self.deliveries.iter().zip(delivered.iter_mut()) {
                if d.start <= t && t < d.end {
                    *k += 1;
                    match d.at {
                        Some(at) => late = late.max(Some(at + *k * d.spacing)),
                        None => lost = lost.max(Some(d.end)),
                    }
                }
            }
            let received = match (lost, late) {
                (Some(_), _) => None,
                (None, Some(at)) => Some(at),
                (None, None) => Some(t + timing.delay),
            };
            unsent.retain(|&(acked, _)| acked > t);
            let sequence = match timing.sequence {
                Sequence::Count(_) => count,
                Sequence::Grid(origin) => (t - origin).div_euclid(interval) as u64,
            };
            out.push(Made {
                t,
                boot,
                boot_time: boots[boot],
                sequence,
                received,
                pending: unsent.len() as u64,
                oldest_unsent: unsent
                    .iter()
                    .map(|&(_, made)| self.agent_clock(made))
                    .min()
                    .unwrap_or(0),
            });
            unsent.push((received.or(lost).unwrap_or(t), t));
            count += 1;
            t += interval;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(silences: Vec<Silence>, deliveries: Vec<Delivery>) -> HostPlan {
        HostPlan {
            id: "h".into(),
            department: "D1".into(),
            business_system: String::new(),
            data_center: "DC1".into(),
            site: 0,
            skew: 0,
            step: None,
            phase: 0,
            silences,
            deliveries,
            probes: vec![],
        }
    }

    const TIMING: Timing = Timing {
        interval: 10,
        first_boot: -1_000,
        delay: 1,
        sequence: Sequence::Count(7),
    };

    #[test]
    fn a_reboot_skips_the_reports_due_and_starts_a_new_boot() {
        // Last report of boot 0 at 20, boot 1 at 45: reports at 50 and 60 are of boot 1.
        let reboot = Silence {
            start: 21,
            end: 46,
            boot: Some(45),
        };
        let m = host(vec![reboot], vec![]).made(&TIMING, -1, 61);
        let got: Vec<(i64, usize, i64, u64)> = m
            .iter()
            .map(|m| (m.t, m.boot, m.boot_time, m.sequence))
            .collect();
        assert_eq!(
            got,
            [
                (0, 0, -1_000, 7),
                (10, 0, -1_000, 8),
                (20, 0, -1_000, 9),
                (50, 1, 45, 10),
                (60, 1, 45, 11)
            ]
        );
        assert!(m.iter().all(|m| m.received == Some(m.t + 1)));
    }

    #[test]
    fn late_and_lost_reports_stay_in_the_spool_until_they_leave_it() {
        let held = Delivery {
            start: 10,
            end: 30,
            at: Some(30),
            spacing: 1,
        };
        let lost = Delivery {
            start: 30,
            end: 40,
            at: None,
            spacing: 0,
        };
        let timing = Timing {
            sequence: Sequence::Grid(-100),
            ..TIMING
        };
        let m = host(vec![], vec![held, lost]).made(&timing, -1, 41);
        let got: Vec<(i64, Option<i64>, u64, i64, u64)> = m
            .iter()
            .map(|m| (m.t, m.received, m.pending, m.oldest_unsent, m.sequence))
            .collect();
        assert_eq!(
            got,
            [
                (0, Some(1), 0, 0, 10),
                (10, Some(31), 0, 0, 11),
                (20, Some(32), 1, 10, 12),
                (30, None, 2, 10, 13),
                (40, Some(41), 0, 0, 14)
            ]
        );
    }
}
