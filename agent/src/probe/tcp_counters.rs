//! The host's TCP counters: `/proc/net/snmp`, the `Tcp:` header and value lines (one read
//! per collection). Linux keeps one TCP MIB for IPv4 and IPv6, so these count both.

use zerofault_protocol::{Report, TcpStats};

use super::source::{Probe, ProbeError, parse_error, read};

const SNMP: &str = "/proc/net/snmp";

/// Parses the `Tcp:` lines of `/proc/net/snmp` (a line of names, then a line of values).
/// `None` when either line is missing or a needed counter is absent or not a number.
pub fn parse_snmp_tcp(text: &str) -> Option<TcpStats> {
    let mut tcp = text.lines().filter_map(|l| l.strip_prefix("Tcp:"));
    let (names, values) = (tcp.next()?, tcp.next()?);
    let pairs: Vec<(&str, &str)> = names
        .split_whitespace()
        .zip(values.split_whitespace())
        .collect();
    let get = |key: &str| -> Option<u64> {
        pairs
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| v.parse().ok())
    };
    Some(TcpStats {
        established: get("CurrEstab")?,
        segments_sent_total: get("OutSegs")?,
        segments_retransmitted_total: get("RetransSegs")?,
        segments_received_total: get("InSegs")?,
    })
}

/// Fills `tcp`.
#[derive(Debug, Default)]
pub struct TcpCountersProbe;

impl TcpCountersProbe {
    /// Creates the probe.
    pub fn new() -> Self {
        Self
    }
}

impl Probe for TcpCountersProbe {
    fn name(&self) -> &'static str {
        "tcp_counters"
    }

    fn collect(&mut self, report: &mut Report) -> Result<(), ProbeError> {
        report.tcp = Some(
            parse_snmp_tcp(&read(SNMP)?).ok_or_else(|| parse_error(SNMP, "no Tcp: counters"))?,
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SNMP_TEXT: &str = "\
Ip: Forwarding DefaultTTL InReceives
Ip: 1 64 12345
Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors
Tcp: 1 200 120000 -1 2696733 2408682 237920 3530524 17 18704122 18742889 5013 0 2553732 0
Udp: InDatagrams NoPorts
Udp: 1 2
";

    #[test]
    fn parses_tcp_counters() {
        assert_eq!(
            parse_snmp_tcp(SNMP_TEXT),
            Some(TcpStats {
                established: 17,
                segments_sent_total: 18_742_889,
                segments_retransmitted_total: 5013,
                segments_received_total: 18_704_122,
            })
        );
    }

    #[test]
    fn missing_or_broken_is_absent() {
        assert_eq!(parse_snmp_tcp(""), None);
        assert_eq!(parse_snmp_tcp("Tcp: CurrEstab InSegs OutSegs\n"), None);
        assert_eq!(
            parse_snmp_tcp("Tcp: CurrEstab InSegs OutSegs\nTcp: 1 2 3\n"),
            None,
            "RetransSegs missing"
        );
        assert_eq!(
            parse_snmp_tcp("Tcp: CurrEstab InSegs OutSegs RetransSegs\nTcp: 1 2 x 4\n"),
            None
        );
    }
}
