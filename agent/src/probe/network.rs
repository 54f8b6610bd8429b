//! Network interfaces: cumulative counters from `/proc/net/dev`, link state from
//! `/sys/class/net/IF/{operstate,carrier,speed,duplex}`.
//!
//! Counters are read from `/proc/net/dev` rather than sysinfo: sysinfo has no drop
//! counters (a protocol field) and opens eight files per interface per refresh, where
//! `/proc/net/dev` is one read giving all counters of all interfaces from one snapshot.
//! Interface carrier and operstate changes are what "network uptime" is built from, so they
//! are read every collection.

use std::path::Path;

use zerofault_protocol::{Interface, Limits, Report};

use super::source::{Probe, ProbeError, parse_error, read, read_kernel_file};

const NET_DEV: &str = "/proc/net/dev";
const SYS_CLASS_NET: &str = "/sys/class/net";

/// The counters of one `/proc/net/dev` line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetDev {
    /// Interface name.
    pub name: String,
    /// Received bytes.
    pub rx_bytes: u64,
    /// Received packets.
    pub rx_packets: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Received packets dropped.
    pub rx_drops: u64,
    /// Transmitted bytes.
    pub tx_bytes: u64,
    /// Transmitted packets.
    pub tx_packets: u64,
    /// Transmit errors.
    pub tx_errors: u64,
    /// Transmitted packets dropped.
    pub tx_drops: u64,
}

/// Parses `/proc/net/dev`: two header lines, then `name: 16 counters` (8 receive, 8
/// transmit). Large counters can touch the colon (`eth0:123`), so the split is on `:`.
/// `None` when a data line is malformed (a format change we must notice, not misread).
pub fn parse_net_dev(text: &str) -> Option<Vec<NetDev>> {
    let mut out = Vec::new();
    for line in text.lines().skip(2) {
        if line.trim().is_empty() {
            continue;
        }
        let (name, rest) = line.split_once(':')?;
        let v: Vec<u64> = rest
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        if v.len() < 16 {
            return None;
        }
        out.push(NetDev {
            name: name.trim().to_owned(),
            rx_bytes: v[0],
            rx_packets: v[1],
            rx_errors: v[2],
            rx_drops: v[3],
            tx_bytes: v[8],
            tx_packets: v[9],
            tx_errors: v[10],
            tx_drops: v[11],
        });
    }
    Some(out)
}

/// Normalises `/sys/class/net/IF/operstate` to one of the RFC 2863 names the kernel uses;
/// anything else (or an unreadable file) is `unknown`.
pub fn parse_operstate(text: &str) -> &'static str {
    match text.trim() {
        "up" => "up",
        "down" => "down",
        "dormant" => "dormant",
        "lowerlayerdown" => "lowerlayerdown",
        "notpresent" => "notpresent",
        "testing" => "testing",
        _ => "unknown",
    }
}

/// Parses `/sys/class/net/IF/carrier`: `1` link, `0` no link, anything else unknown (the
/// kernel refuses the read with EINVAL while the interface is administratively down).
pub fn parse_carrier(text: &str) -> Option<bool> {
    match text.trim() {
        "1" => Some(true),
        "0" => Some(false),
        _ => None,
    }
}

/// Parses `/sys/class/net/IF/speed` (Mb/s) into bits per second; `-1`, 0, garbage or an
/// unreadable file (virtual interfaces) give 0, "unknown".
pub fn parse_speed(text: &str) -> u64 {
    match text.trim().parse::<i64>() {
        Ok(mbps) if mbps > 0 => u64::try_from(mbps).unwrap_or(0).saturating_mul(1_000_000),
        _ => 0,
    }
}

/// Parses `/sys/class/net/IF/duplex`: `full` or `half`; `unknown`, an empty or unreadable
/// file (virtual interfaces, or EINVAL while the link is down) is `None`.
pub fn parse_duplex(text: &str) -> Option<bool> {
    match text.trim() {
        "full" => Some(true),
        "half" => Some(false),
        _ => None,
    }
}

fn read_attr(name: &str, attr: &str) -> Option<String> {
    read_kernel_file(&Path::new(SYS_CLASS_NET).join(name).join(attr)).ok()
}

/// How long an interface's speed and duplex are taken as read: they change only when the
/// link renegotiates, which a carrier change shows (then they are read again at once).
/// Reading them every report was two of the four sysfs opens per interface, and opening
/// files is a fifth of the agent's CPU per cycle (perf, issue 17).
const LINK_MODE_TTL: std::time::Duration = std::time::Duration::from_secs(60);

/// Speed and duplex of an interface as last read, with when and at which carrier.
#[derive(Debug, Clone, Copy)]
struct LinkMode {
    read_at: std::time::Instant,
    carrier: Option<bool>,
    speed: u64,
    full_duplex: Option<bool>,
}

/// Fills `interfaces`.
#[derive(Debug, Default)]
pub struct NetworkProbe {
    modes: std::collections::HashMap<String, LinkMode>,
}

impl NetworkProbe {
    /// Creates the probe.
    pub fn new() -> Self {
        Self::default()
    }

    /// Speed and duplex of `name`: cached for [`LINK_MODE_TTL`] while the carrier stays.
    fn link_mode(&mut self, name: &str, carrier: Option<bool>) -> (u64, Option<bool>) {
        let now = std::time::Instant::now();
        if let Some(m) = self.modes.get(name)
            && m.carrier == carrier
            && now.duration_since(m.read_at) < LINK_MODE_TTL
        {
            return (m.speed, m.full_duplex);
        }
        let speed = read_attr(name, "speed").map_or(0, |t| parse_speed(&t));
        let full_duplex = read_attr(name, "duplex").and_then(|t| parse_duplex(&t));
        self.modes.insert(
            name.to_owned(),
            LinkMode {
                read_at: now,
                carrier,
                speed,
                full_duplex,
            },
        );
        (speed, full_duplex)
    }
}

impl Probe for NetworkProbe {
    fn name(&self) -> &'static str {
        "network"
    }

    fn collect(&mut self, report: &mut Report) -> Result<(), ProbeError> {
        let devs = parse_net_dev(&read(NET_DEV)?)
            .ok_or_else(|| parse_error(NET_DEV, "unexpected line format"))?;
        let limit = Limits::default().max_interfaces;
        // Interfaces that went away leave the cache with them.
        let present: std::collections::HashSet<&str> =
            devs.iter().map(|d| d.name.as_str()).collect();
        self.modes.retain(|name, _| present.contains(name.as_str()));
        report.interfaces = devs
            .into_iter()
            .take(limit)
            .map(|d| {
                let oper_state = read_attr(&d.name, "operstate")
                    .map_or("unknown", |t| parse_operstate(&t))
                    .to_owned();
                let carrier = read_attr(&d.name, "carrier").and_then(|t| parse_carrier(&t));
                let (speed, full_duplex) = self.link_mode(&d.name, carrier);
                Interface {
                    name: d.name,
                    receive_bytes: d.rx_bytes,
                    transmit_bytes: d.tx_bytes,
                    receive_packets: d.rx_packets,
                    transmit_packets: d.tx_packets,
                    receive_errors: d.rx_errors,
                    transmit_errors: d.tx_errors,
                    receive_drops: d.rx_drops,
                    transmit_drops: d.tx_drops,
                    oper_state,
                    carrier,
                    speed_bits_per_second: speed,
                    full_duplex,
                }
            })
            .collect();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NET_DEV_TEXT: &str = "\
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    3193      29    0    0    0     0          0         0     3193      29    0    0    0     0       0          0
  eth0:123456789012 9876543 1 2 0 0 0 17 98765 4321 3 4 0 0 0 0
";

    #[test]
    fn parses_net_dev() {
        let devs = parse_net_dev(NET_DEV_TEXT).unwrap();
        assert_eq!(devs.len(), 2);
        assert_eq!(
            devs[0],
            NetDev {
                name: "lo".into(),
                rx_bytes: 3193,
                rx_packets: 29,
                tx_bytes: 3193,
                tx_packets: 29,
                ..NetDev::default()
            }
        );
        assert_eq!(
            devs[1],
            NetDev {
                name: "eth0".into(),
                rx_bytes: 123_456_789_012,
                rx_packets: 9_876_543,
                rx_errors: 1,
                rx_drops: 2,
                tx_bytes: 98_765,
                tx_packets: 4_321,
                tx_errors: 3,
                tx_drops: 4,
            }
        );
    }

    #[test]
    fn malformed_net_dev_is_refused() {
        assert_eq!(parse_net_dev("h1\nh2\n  eth0: 1 2 3\n"), None);
        assert_eq!(parse_net_dev("h1\nh2\n  eth0 1 2 3\n"), None);
        assert_eq!(parse_net_dev("h1\nh2\n"), Some(vec![]));
    }

    #[test]
    fn operstate() {
        assert_eq!(parse_operstate("up\n"), "up");
        assert_eq!(parse_operstate("down\n"), "down");
        assert_eq!(parse_operstate("lowerlayerdown\n"), "lowerlayerdown");
        assert_eq!(parse_operstate("unknown\n"), "unknown");
        assert_eq!(parse_operstate("weird"), "unknown");
        assert_eq!(parse_operstate(""), "unknown");
    }

    #[test]
    fn carrier() {
        assert_eq!(parse_carrier("1\n"), Some(true));
        assert_eq!(parse_carrier("0\n"), Some(false));
        assert_eq!(parse_carrier(""), None);
    }

    #[test]
    fn speed() {
        assert_eq!(parse_speed("1000\n"), 1_000_000_000);
        assert_eq!(parse_speed("25000"), 25_000_000_000);
        assert_eq!(parse_speed("-1\n"), 0);
        assert_eq!(parse_speed("0"), 0);
        assert_eq!(parse_speed(""), 0);
        assert_eq!(parse_speed("fast"), 0);
    }

    #[test]
    fn duplex() {
        assert_eq!(parse_duplex("full\n"), Some(true));
        assert_eq!(parse_duplex("half\n"), Some(false));
        assert_eq!(parse_duplex("unknown\n"), None);
        assert_eq!(parse_duplex(""), None);
    }

    #[test]
    fn loopback_is_seen_here() {
        let mut r = Report::default();
        NetworkProbe::new().collect(&mut r).unwrap();
        let lo = r.interfaces.iter().find(|i| i.name == "lo").unwrap();
        assert_eq!(lo.speed_bits_per_second, 0);
        // Loopback has no duplex file: absent, not half.
        assert_eq!(lo.full_duplex, None);
    }
}
