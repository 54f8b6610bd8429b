//! Filesystems: size, used and available bytes per mount point, from `/proc/self/mounts`
//! and statvfs(2).
//!
//! Not from sysinfo: it does not expose free blocks (the protocol's `used` is
//! `size - free`, as df(1) shows it, root-reserved blocks counted as free), and its disk
//! refresh also scans `/dev/disk/by-id` every time. statvfs comes from rustix, which wraps
//! the syscall safely, so the crate stays free of `unsafe`.
//!
//! Which mounts are reported, and why:
//! * pseudo and memory filesystems (proc, sysfs, tmpfs, cgroup, ...) are excluded: they hold
//!   no capacity to plan;
//! * network and FUSE filesystems (nfs, cifs, ceph, fuse.*, ...) are excluded: statvfs on an
//!   unreachable hard-mounted share blocks forever, which would stall this single-threaded
//!   agent, and shared storage is capacity of the server exporting it;
//! * `overlay` is excluded except when mounted at `/`: on a container host every container
//!   adds an overlay mount whose numbers are those of the backing disk (already reported),
//!   while inside a container the overlay root is the only view of the disk there is;
//! * squashfs and iso9660 are excluded: read-only images (snaps, media) are always 100 %
//!   full and would trip every "disk full" alert;
//! * one block device mounted several times (bind mounts, btrfs subvolumes, kubelet and
//!   container volumes) is reported once, at its shortest mount point, so that capacity
//!   summed per department or data center is not counted twice.

use std::collections::HashMap;

use tracing::debug;
use zerofault_protocol::{Filesystem, Limits, Report};

use super::source::{Probe, ProbeError, read};

const MOUNTS: &str = "/proc/self/mounts";

/// One line of `/proc/self/mounts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Device (first field), e.g. `/dev/vda1`.
    pub device: String,
    /// Mount point, octal escapes decoded.
    pub mount_point: String,
    /// Filesystem type, e.g. `ext4`.
    pub fs_type: String,
}

/// Parses `/proc/self/mounts` (fstab(5) format); malformed lines are skipped.
pub fn parse_mounts(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let device = fields.next()?;
            let mount_point = fields.next()?;
            let fs_type = fields.next()?;
            Some(Mount {
                device: unescape_octal(device),
                mount_point: unescape_octal(mount_point),
                fs_type: fs_type.to_owned(),
            })
        })
        .collect()
}

/// Decodes the kernel's `\NNN` octal escapes (space `\040`, tab `\011`, newline `\012`,
/// backslash `\134`).
pub fn unescape_octal(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_owned();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..=i + 3]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let v = (bytes[i + 1] - b'0') as u32 * 64
                + (bytes[i + 2] - b'0') as u32 * 8
                + (bytes[i + 3] - b'0') as u32;
            if let Ok(b) = u8::try_from(v) {
                out.push(b);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Filesystems that hold no disk capacity: kernel interfaces, memory-backed and container
/// plumbing.
pub fn is_pseudo_fs(fs_type: &str) -> bool {
    matches!(
        fs_type,
        "autofs"
            | "binfmt_misc"
            | "bpf"
            | "cgroup"
            | "cgroup2"
            | "configfs"
            | "debugfs"
            | "devpts"
            | "devtmpfs"
            | "efivarfs"
            | "fusectl"
            | "hugetlbfs"
            | "mqueue"
            | "nsfs"
            | "proc"
            | "pstore"
            | "ramfs"
            | "rootfs"
            | "rpc_pipefs"
            | "securityfs"
            | "selinuxfs"
            | "sysfs"
            | "tmpfs"
            | "tracefs"
            | "nfsd"
            | "squashfs"
            | "iso9660"
            | "udf"
    )
}

/// Network and FUSE filesystems: statvfs on them may block indefinitely. `fuseblk` (a
/// local block device through FUSE, e.g. ntfs-3g) is local and kept.
pub fn is_network_fs(fs_type: &str) -> bool {
    matches!(
        fs_type,
        "nfs"
            | "nfs4"
            | "cifs"
            | "smb3"
            | "smbfs"
            | "ceph"
            | "glusterfs"
            | "9p"
            | "afs"
            | "lustre"
            | "gpfs"
            | "ocfs2"
            | "gfs2"
            | "fuse"
    ) || fs_type.starts_with("fuse.")
}

/// Whether a mount is reported (see the module documentation for the reasons).
pub fn is_reported(m: &Mount) -> bool {
    if is_pseudo_fs(&m.fs_type) || is_network_fs(&m.fs_type) {
        return false;
    }
    if m.fs_type == "overlay" || m.fs_type == "aufs" {
        return m.mount_point == "/";
    }
    !["/proc", "/sys", "/dev"].iter().any(|p| {
        m.mount_point == *p
            || m.mount_point
                .strip_prefix(p)
                .is_some_and(|rest| rest.starts_with('/'))
    })
}

/// Keeps one mount per block device (device names starting with `/`), the one with the
/// shortest mount point; other mounts are kept as they are. Order of first appearance is
/// preserved.
pub fn dedupe_by_device(mounts: Vec<Mount>) -> Vec<Mount> {
    let mut best: HashMap<String, usize> = HashMap::new();
    let mut out: Vec<Mount> = Vec::with_capacity(mounts.len());
    for m in mounts {
        if !m.device.starts_with('/') {
            out.push(m);
            continue;
        }
        match best.get(&m.device) {
            Some(&i) => {
                if m.mount_point.len() < out[i].mount_point.len() {
                    out[i] = m;
                }
            }
            None => {
                best.insert(m.device.clone(), out.len());
                out.push(m);
            }
        }
    }
    out
}

/// The statvfs numbers a report needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsStats {
    /// Fragment size (`f_frsize`), the unit of the block counts.
    pub fragment_size: u64,
    /// Total blocks (`f_blocks`).
    pub blocks: u64,
    /// Free blocks, including root-reserved (`f_bfree`).
    pub blocks_free: u64,
    /// Blocks available to unprivileged users (`f_bavail`).
    pub blocks_available: u64,
}

/// Builds a report entry; `None` for a zero-size filesystem (nothing to plan).
pub fn filesystem_from(m: &Mount, s: FsStats) -> Option<Filesystem> {
    if s.blocks == 0 {
        return None;
    }
    let size = s.blocks.saturating_mul(s.fragment_size);
    let free = s.blocks_free.min(s.blocks).saturating_mul(s.fragment_size);
    Some(Filesystem {
        mount_point: m.mount_point.clone(),
        device: m.device.clone(),
        fs_type: m.fs_type.clone(),
        size_bytes: size,
        used_bytes: size - free,
        available_bytes: s
            .blocks_available
            .min(s.blocks)
            .saturating_mul(s.fragment_size),
    })
}

fn statvfs(mount_point: &str) -> std::io::Result<FsStats> {
    // Mount points that are files (container bind mounts of /etc/hosts and the like) are
    // not filesystems an operator would recognise.
    if !std::fs::metadata(mount_point)?.is_dir() {
        return Err(std::io::Error::other("not a directory"));
    }
    let s = rustix::fs::statvfs(mount_point)?;
    Ok(FsStats {
        fragment_size: s.f_frsize,
        blocks: s.f_blocks,
        blocks_free: s.f_bfree,
        blocks_available: s.f_bavail,
    })
}

/// Fills `filesystems`.
#[derive(Debug, Default)]
pub struct DiskProbe;

impl DiskProbe {
    /// Creates the probe.
    pub fn new() -> Self {
        Self
    }
}

impl Probe for DiskProbe {
    fn name(&self) -> &'static str {
        "disk"
    }

    fn collect(&mut self, report: &mut Report) -> Result<(), ProbeError> {
        let mounts = parse_mounts(&read(MOUNTS)?)
            .into_iter()
            .filter(is_reported)
            .collect();
        let limit = Limits::default().max_filesystems;
        report.filesystems = dedupe_by_device(mounts)
            .iter()
            .filter_map(|m| match statvfs(&m.mount_point) {
                Ok(s) => filesystem_from(m, s),
                Err(e) => {
                    debug!(mount_point = %m.mount_point, "filesystem skipped: {e}");
                    None
                }
            })
            .take(limit)
            .collect();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTS_TEXT: &str = "\
sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
udev /dev devtmpfs rw,nosuid,relatime,size=4020180k,nr_inodes=1005045,mode=755 0 0
devpts /dev/pts devpts rw,nosuid,noexec,relatime,gid=5,mode=620,ptmxmode=000 0 0
tmpfs /run tmpfs rw,nosuid,nodev,noexec,relatime,size=808400k,mode=755 0 0
/dev/vda1 / ext4 rw,relatime,errors=remount-ro 0 0
securityfs /sys/kernel/security securityfs rw,nosuid,nodev,noexec,relatime 0 0
cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime 0 0
/dev/vda15 /boot/efi vfat rw,relatime,fmask=0077,dmask=0077 0 0
/dev/vdb1 /data/my\\040disk xfs rw,relatime 0 0
/dev/loop0 /snap/core20/2105 squashfs ro,nodev,relatime 0 0
nsfs /run/netns/ns1 nsfs rw 0 0
10.0.0.5:/export /mnt/nfs nfs4 rw,relatime,vers=4.2 0 0
overlay /var/lib/docker/overlay2/abc/merged overlay rw,relatime,lowerdir=x 0 0
/dev/vda1 /var/lib/kubelet/pods/p1/volumes ext4 rw,relatime 0 0
tank/data /tank/data zfs rw,xattr,noacl 0 0
sshfs#me@h: /mnt/ssh fuse.sshfs rw 0 0
/dev/sdc1 /media/usb fuseblk rw 0 0
";

    #[test]
    fn parses_and_unescapes() {
        let m = parse_mounts(MOUNTS_TEXT);
        assert_eq!(m.len(), 18);
        assert_eq!(
            m[9],
            Mount {
                device: "/dev/vdb1".into(),
                mount_point: "/data/my disk".into(),
                fs_type: "xfs".into()
            }
        );
        assert_eq!(parse_mounts("short line\n\n"), vec![]);
    }

    #[test]
    fn unescape() {
        assert_eq!(unescape_octal(r"a\040b\011c\012d\134e"), "a b\tc\nd\\e");
        assert_eq!(unescape_octal(r"plain"), "plain");
        assert_eq!(unescape_octal(r"trailing\04"), r"trailing\04");
        assert_eq!(unescape_octal(r"bad\089"), r"bad\089");
    }

    #[test]
    fn reports_only_real_local_filesystems_once() {
        let kept: Vec<_> = dedupe_by_device(
            parse_mounts(MOUNTS_TEXT)
                .into_iter()
                .filter(is_reported)
                .collect(),
        )
        .into_iter()
        .map(|m| m.mount_point)
        .collect();
        assert_eq!(
            kept,
            [
                "/",
                "/boot/efi",
                "/data/my disk",
                "/tank/data",
                "/media/usb"
            ]
        );
    }

    #[test]
    fn overlay_only_as_container_root() {
        let m = |mp: &str| Mount {
            device: "overlay".into(),
            mount_point: mp.into(),
            fs_type: "overlay".into(),
        };
        assert!(is_reported(&m("/")));
        assert!(!is_reported(&m("/var/lib/docker/overlay2/x/merged")));
    }

    #[test]
    fn pseudo_predicates() {
        for t in [
            "proc", "sysfs", "tmpfs", "devtmpfs", "cgroup", "cgroup2", "squashfs", "nsfs",
        ] {
            assert!(is_pseudo_fs(t), "{t}");
        }
        for t in ["ext4", "xfs", "btrfs", "vfat", "zfs", "overlay", "fuseblk"] {
            assert!(!is_pseudo_fs(t), "{t}");
            assert!(!is_network_fs(t), "{t}");
        }
        for t in ["nfs", "nfs4", "cifs", "fuse.sshfs", "ceph"] {
            assert!(is_network_fs(t), "{t}");
        }
        let devnull = Mount {
            device: "/dev/sda1".into(),
            mount_point: "/dev/something".into(),
            fs_type: "ext4".into(),
        };
        assert!(!is_reported(&devnull));
        let device_like = Mount {
            mount_point: "/devices".into(),
            ..devnull
        };
        assert!(is_reported(&device_like));
    }

    #[test]
    fn dedupe_keeps_shortest_mount_point() {
        let m = |d: &str, mp: &str| Mount {
            device: d.into(),
            mount_point: mp.into(),
            fs_type: "ext4".into(),
        };
        let out = dedupe_by_device(vec![
            m("/dev/sda2", "/home"),
            m("/dev/sda1", "/"),
            m("/dev/sda2", "/h"),
            m("none", "/x"),
            m("none", "/y"),
        ]);
        assert_eq!(
            out,
            vec![
                m("/dev/sda2", "/h"),
                m("/dev/sda1", "/"),
                m("none", "/x"),
                m("none", "/y")
            ]
        );
    }

    #[test]
    fn sizes_from_statvfs() {
        let m = Mount {
            device: "/dev/vda1".into(),
            mount_point: "/".into(),
            fs_type: "ext4".into(),
        };
        let fs = filesystem_from(
            &m,
            FsStats {
                fragment_size: 4096,
                blocks: 1000,
                blocks_free: 300,
                blocks_available: 250,
            },
        )
        .unwrap();
        assert_eq!(fs.size_bytes, 4_096_000);
        assert_eq!(fs.used_bytes, 700 * 4096);
        assert_eq!(fs.available_bytes, 250 * 4096);
        let zero = FsStats {
            fragment_size: 4096,
            blocks: 0,
            blocks_free: 0,
            blocks_available: 0,
        };
        assert_eq!(filesystem_from(&m, zero), None);
    }

    #[test]
    fn root_filesystem_is_found_here() {
        let mut r = Report::default();
        DiskProbe::new().collect(&mut r).unwrap();
        assert!(!r.filesystems.is_empty(), "{:?}", r.filesystems);
        for fs in &r.filesystems {
            assert!(fs.used_bytes <= fs.size_bytes);
            assert!(fs.available_bytes <= fs.size_bytes);
        }
    }
}
