//! The short human summary `once` prints without `--json`.

use std::fmt::Write;

use zerofault_protocol::Report;

/// Formats a byte count with binary units, one decimal: `1.5 GiB`, `512 B`.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Formats a link speed: `10 Gb/s`, `100 Mb/s`, `-` when unknown.
pub fn format_speed(bits_per_second: u64) -> String {
    match bits_per_second {
        0 => "-".to_owned(),
        b if b >= 1_000_000_000 && b % 1_000_000_000 == 0 => format!("{} Gb/s", b / 1_000_000_000),
        b => format!("{} Mb/s", b / 1_000_000),
    }
}

/// Formats seconds as `3d 4h 5m`.
pub fn format_uptime(seconds: u64) -> String {
    let (d, h, m) = (seconds / 86_400, seconds / 3_600 % 24, seconds / 60 % 60);
    if d > 0 {
        format!("{d}d {h}h {m}m")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else {
        format!("{m}m {}s", seconds % 60)
    }
}

/// A few lines an operator can read at a glance; `encoded_bytes` is the wire size.
pub fn summarize(r: &Report, encoded_bytes: usize) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "agent {} on {} (boot {}, sequence {}, agent {})",
        r.agent_id, r.hostname, r.boot_id, r.sequence, r.agent_version
    );
    if let Some(l) = &r.labels {
        let _ = writeln!(
            s,
            "labels: department={} business_system={} datacenter={} site={}",
            l.department, l.business_system, l.datacenter, l.site
        );
    }
    if let Some(sys) = &r.system {
        let _ = writeln!(
            s,
            "system: {} {}, kernel {}, up {}",
            sys.os_name,
            sys.os_version,
            sys.kernel_version,
            format_uptime(sys.uptime_seconds)
        );
    }
    if let Some(c) = &r.cpu {
        let _ = writeln!(
            s,
            "cpu: {} logical / {} physical cores, {:.1}% busy, load {:.2} {:.2} {:.2}",
            c.logical_cores,
            c.physical_cores,
            c.usage_ratio * 100.0,
            c.load1,
            c.load5,
            c.load15
        );
    }
    if let Some(m) = &r.memory {
        let _ = writeln!(
            s,
            "memory: {} used of {} ({} available), swap {} used of {}",
            format_bytes(m.used_bytes),
            format_bytes(m.total_bytes),
            format_bytes(m.available_bytes),
            format_bytes(m.swap_used_bytes),
            format_bytes(m.swap_total_bytes)
        );
    }
    let _ = writeln!(s, "filesystems: {}", r.filesystems.len());
    for f in &r.filesystems {
        let _ = writeln!(
            s,
            "  {} ({} on {}): {} used of {}, {} available",
            f.mount_point,
            f.fs_type,
            f.device,
            format_bytes(f.used_bytes),
            format_bytes(f.size_bytes),
            format_bytes(f.available_bytes)
        );
    }
    let _ = writeln!(s, "interfaces: {}", r.interfaces.len());
    for i in &r.interfaces {
        let carrier = match i.carrier {
            Some(true) => "yes",
            Some(false) => "no",
            None => "-",
        };
        let _ = writeln!(
            s,
            "  {}: {}, carrier {}, speed {}, rx {} tx {}, errors {}/{}, drops {}/{}",
            i.name,
            i.oper_state,
            carrier,
            format_speed(i.speed_bits_per_second),
            format_bytes(i.receive_bytes),
            format_bytes(i.transmit_bytes),
            i.receive_errors,
            i.transmit_errors,
            i.receive_drops,
            i.transmit_drops
        );
    }
    let _ = writeln!(
        s,
        "report: {encoded_bytes} bytes on the wire (protobuf + zstd)"
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes() {
        assert_eq!(format_bytes(0), "0 B");
        assert_eq!(format_bytes(1023), "1023 B");
        assert_eq!(format_bytes(1024), "1.0 KiB");
        assert_eq!(format_bytes(1536 * 1024 * 1024), "1.5 GiB");
        assert_eq!(format_bytes(u64::MAX), "16384.0 PiB");
    }

    #[test]
    fn speeds_and_uptime() {
        assert_eq!(format_speed(0), "-");
        assert_eq!(format_speed(10_000_000_000), "10 Gb/s");
        assert_eq!(format_speed(100_000_000), "100 Mb/s");
        assert_eq!(format_speed(2_500_000_000), "2500 Mb/s");
        assert_eq!(format_uptime(59), "0m 59s");
        assert_eq!(format_uptime(3_661), "1h 1m");
        assert_eq!(format_uptime(90_061), "1d 1h 1m");
    }

    #[test]
    fn summary_mentions_every_section() {
        let r = Report {
            agent_id: "web-01".into(),
            hostname: "h".into(),
            filesystems: vec![zerofault_protocol::Filesystem {
                mount_point: "/".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let s = summarize(&r, 123);
        assert!(s.starts_with("agent web-01 on h"));
        assert!(s.contains("filesystems: 1\n  / ("));
        assert!(s.contains("123 bytes"));
    }
}
