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
    /// Inodes (`f_files`); 0 for a filesystem without a fixed number.
    pub inodes: u64,
    /// Free inodes (`f_ffree`).
    pub inodes_free: u64,
    /// `ST_RDONLY` in `f_flag`.
    pub read_only: bool,
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
        // No fixed inode count (btrfs, some network and FUSE filesystems): absent, not 0.
        inodes_total: (s.inodes > 0).then_some(s.inodes),
        inodes_free: (s.inodes > 0).then_some(s.inodes_free.min(s.inodes)),
        read_only: Some(s.read_only),
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
        inodes: s.f_files,
        inodes_free: s.f_ffree,
        read_only: s.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY),
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
mod tests;
