//! Block devices: cumulative I/O counters from `/proc/diskstats`, one read per collection.
//!
//! Which devices: whole disks and the devices stacked on them (device-mapper/LVM `dm-N`,
//! software RAID `mdN`), not their partitions, whose I/O is already counted in their disk,
//! and not the devices that are no storage (`loopN`, `ramN`, `zramN`, `fdN`). The rule is
//! on the name, as node_exporter's default `--collector.diskstats.device-exclude` is, so it
//! is a pure function: see [`is_reported`].

use zerofault_protocol::{BlockDevice, Limits, Report};

use super::source::{Probe, ProbeError, parse_error, read};

const DISKSTATS: &str = "/proc/diskstats";

/// `/proc/diskstats` counts sectors of 512 bytes whatever the device's sector size.
const SECTOR_BYTES: u64 = 512;

/// Counters of a line, after major, minor and name: reads, merged, sectors, ms; writes,
/// merged, sectors, ms; in flight, io ms, weighted io ms. Newer kernels add discard (4.18)
/// and flush (5.5) counters after these, which are not read.
const FIELDS: usize = 11;

/// `name` is `prefix` followed by one or more ASCII digits and nothing else.
fn prefix_digits(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix)
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
}

/// Splits a trailing run of digits off `s`: `("sda", "1")` for `sda1`.
fn split_digits(s: &str) -> (&str, &str) {
    let at = s.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    s.split_at(at)
}

/// Whether a device is reported: not a partition (`sda1`, `vdb2`, `xvda1`, `hda3`, and
/// `<name ending in a digit>p<N>`: `nvme0n1p2`, `mmcblk0p1`, `md127p1`, `loop0p1`) and not
/// a pseudo device (`loopN`, `ramN`, `zramN`, `fdN`).
/// Whole disks (`sda`, `vda`, `nvme0n1`, `mmcblk0`), `dm-N`, `mdN`, `srN` and anything
/// else are reported.
pub fn is_reported(name: &str) -> bool {
    if ["loop", "ram", "zram", "fd"]
        .iter()
        .any(|p| prefix_digits(name, p))
    {
        return false;
    }
    let (stem, digits) = split_digits(name);
    if digits.is_empty() {
        return true;
    }
    // sd/hd/vd/xvd + letters + partition number.
    let disk_letters = ["xvd", "sd", "hd", "vd"].iter().any(|p| {
        stem.strip_prefix(p)
            .is_some_and(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_lowercase()))
    });
    if disk_letters {
        return false;
    }
    // A disk whose name ends in a digit numbers its partitions after a `p`: nvme0n1p2,
    // mmcblk0p1, loop0p1, md127p1, nbd0p1, rbd0p1.
    !stem
        .strip_suffix('p')
        .is_some_and(|disk| disk.ends_with(|c: char| c.is_ascii_digit()))
}

/// Parses `/proc/diskstats` into the reported devices ([`is_reported`]), at most `limit`.
/// A line with fewer than 11 counters is left out (kernels before 2.6.25 gave partitions
/// 4); a counter that is not a number is `None`: a format change to notice, not misread.
pub fn parse_diskstats(text: &str, limit: usize) -> Option<Vec<BlockDevice>> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let (Some(_major), Some(_minor), Some(name)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let values: Vec<u64> = fields
            .take(FIELDS)
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        if values.len() < FIELDS || !is_reported(name) || out.len() >= limit {
            continue;
        }
        out.push(BlockDevice {
            name: name.to_owned(),
            reads_completed_total: values[0],
            read_bytes_total: values[2].saturating_mul(SECTOR_BYTES),
            read_time_ms_total: values[3],
            writes_completed_total: values[4],
            written_bytes_total: values[6].saturating_mul(SECTOR_BYTES),
            write_time_ms_total: values[7],
            in_flight: values[8],
            io_time_ms_total: values[9],
            weighted_io_time_ms_total: values[10],
        });
    }
    Some(out)
}

/// Fills `block_devices`.
#[derive(Debug, Default)]
pub struct BlockProbe;

impl BlockProbe {
    /// Creates the probe.
    pub fn new() -> Self {
        Self
    }
}

impl Probe for BlockProbe {
    fn name(&self) -> &'static str {
        "block"
    }

    fn collect(&mut self, report: &mut Report) -> Result<(), ProbeError> {
        report.block_devices =
            parse_diskstats(&read(DISKSTATS)?, Limits::default().max_block_devices)
                .ok_or_else(|| parse_error(DISKSTATS, "a counter is not a number"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_devices_are_reported() {
        for name in [
            "sda", "sdaa", "vda", "xvda", "hda", "nvme0n1", "nvme10n2", "mmcblk0", "dm-0", "md0",
            "md127", "sr0", "nbd0",
        ] {
            assert!(is_reported(name), "{name} should be reported");
        }
        for name in [
            "loop0p1",
            "md127p1",
            "nbd0p1",
            "sda1",
            "sdaa12",
            "vda2",
            "xvda1",
            "hda3",
            "nvme0n1p1",
            "nvme10n2p15",
            "mmcblk0p1",
            "loop0",
            "loop12",
            "ram0",
            "zram0",
            "fd0",
        ] {
            assert!(!is_reported(name), "{name} should be left out");
        }
    }

    /// A 6.1 kernel's file (17 counters): a virtio disk with a partition, LVM on it, loop
    /// and zram devices.
    const KERNEL_6: &str = "\
   7       0 loop0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
 254       0 vda 5065355 132568 262816450 11035423 5002260 603365 730196200 5917376 0 1012032 17212504 687513 167 600237136 175852 1217936 83853
 254       1 vda1 5065000 132500 262800000 11035000 5002000 603300 730190000 5917000 0 1011000 17212000 0 0 0 0 0 0
 253       0 dm-0 4000 0 80000 1200 9000 0 160000 4500 2 3000 5700 0 0 0 0 0 0
 252       0 zram0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
";

    #[test]
    fn parses_a_recent_kernel() {
        let devs = parse_diskstats(KERNEL_6, 100).unwrap();
        let names: Vec<_> = devs.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["vda", "dm-0"]);
        assert_eq!(
            devs[0],
            BlockDevice {
                name: "vda".into(),
                reads_completed_total: 5_065_355,
                read_bytes_total: 262_816_450 * 512,
                read_time_ms_total: 11_035_423,
                writes_completed_total: 5_002_260,
                written_bytes_total: 730_196_200 * 512,
                write_time_ms_total: 5_917_376,
                in_flight: 0,
                io_time_ms_total: 1_012_032,
                weighted_io_time_ms_total: 17_212_504,
            }
        );
        assert_eq!(devs[1].in_flight, 2);
    }

    /// Before 4.18 a line had 11 counters; before 2.6.25 a partition's line had 4.
    #[test]
    fn parses_old_kernels() {
        let old = "   8       0 sda 10 0 80 5 20 0 160 7 0 9 12\n   8       1 sda1 10 80 20 160\n";
        let devs = parse_diskstats(old, 100).unwrap();
        assert_eq!(devs.len(), 1);
        assert_eq!(devs[0].written_bytes_total, 160 * 512);
        assert_eq!(devs[0].weighted_io_time_ms_total, 12);
    }

    #[test]
    fn garbage_is_refused_and_empty_is_empty() {
        assert_eq!(
            parse_diskstats(" 8 0 sda 1 2 x 4 5 6 7 8 9 10 11\n", 100),
            None
        );
        assert_eq!(parse_diskstats("", 100), Some(vec![]));
        // A container without the file: the probe fails and the field stays absent.
    }

    #[test]
    fn the_limit_holds() {
        let many: String = (0..10)
            .map(|i| format!(" 253 {i} dm-{i} 1 0 1 1 1 0 1 1 0 1 1\n"))
            .collect();
        assert_eq!(parse_diskstats(&many, 3).unwrap().len(), 3);
    }

    #[test]
    fn this_hosts_disks_are_read() {
        // The kernel lists whole devices under /sys/block (partitions live under their
        // disk): every device reported must be one of them.
        let mut r = Report::default();
        BlockProbe::new().collect(&mut r).unwrap();
        for d in &r.block_devices {
            assert!(
                std::path::Path::new("/sys/block").join(&d.name).exists(),
                "{} is not a whole device",
                d.name
            );
        }
    }
}
