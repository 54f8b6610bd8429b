//! Gives back the page-table entries of the agent's own code: `madvise(MADV_DONTNEED)` on
//! the read-only mappings of its executable.
//!
//! Why: nearly all of the agent's 4.3 MiB binary was resident although a collection cycle
//! runs a fraction of it. Start-up (configuration, YAML, TLS set-up, certificate parsing)
//! touches most of it once, and the kernel maps 64 KiB around every page fault on a file
//! ("fault-around"), so those pages stay mapped, and counted in the agent's RSS, for the
//! life of the process. Dropping the mappings once start-up is over, and again now and then
//! for rarely used paths, leaves mapped what the cycle runs (measured in docs/benchmarks.md).
//! The pages stay in the page cache; unmapped, they are what the kernel reclaims first when
//! the host needs memory, and a page the agent runs again is mapped back by a minor fault.
//!
//! Sound because only mappings that hold nothing but the file's bytes, and cannot go away,
//! are touched:
//!
//! - mappings of the files mapped when the process started ([`remember_startup_files`]:
//!   its executable, the dynamic loader and the libraries it was linked with, libc among
//!   them), which the loader mapped before `main` and never unmaps, so the range read from
//!   `/proc/self/smaps` is still that mapping when `madvise` runs, whatever other threads
//!   map or unmap meanwhile. Files mapped later are left alone: a `dlopen` (name
//!   resolution may load NSS modules) maps and unmaps files such as `/etc/ld.so.cache`,
//!   whose range could be reused by anonymous memory between the read and the call;
//! - private (`p`) and not writable, and never writable: no `ac` in `VmFlags` (the kernel
//!   marks a private mapping that was made writable, such as the relocated data that the
//!   loader makes read-only afterwards, RELRO, and `mprotect` keeps the mark);
//! - not a single private page, resident (`Anonymous: 0 kB`) or swapped out (`Swap: 0 kB`).
//!
//! `MADV_DONTNEED` on such a mapping changes no byte the process can read: the next access
//! reads the same file page, exactly what the kernel's own reclaim of clean file pages
//! leads to at any time. A running executable cannot be written to (the kernel refuses);
//! a package upgrade replaces files, and the mappings keep the old ones.

use std::sync::OnceLock;

/// The files mapped at start, and the ranges of every mapping then.
type Startup = (Vec<String>, Vec<(usize, usize)>);

/// What [`remember_startup_files`] saw.
static STARTUP_FILES: OnceLock<Startup> = OnceLock::new();

/// Remembers which files are mapped now, and where. Call first thing in `main`, before any
/// thread is started or any name resolved. Only those very mappings are given back later:
/// a later `mmap` of one of the files (a backtrace reading the executable's symbols) makes
/// another range, which is left alone. Without it, [`release_file_pages`] gives back the
/// executable's mappings only.
pub fn remember_startup_files() {
    if let Ok(maps) = read_bounded("/proc/self/maps") {
        let ranges = maps
            .lines()
            .filter_map(map_line)
            .map(|m| (m.start, m.end))
            .collect();
        let _ = STARTUP_FILES.set((mapped_files(&maps), ranges));
    }
}

/// The files of `maps` (the text of `/proc/self/maps`): paths, not devices, memfds or
/// deleted files; sorted, each once. Pure.
pub fn mapped_files(maps: &str) -> Vec<String> {
    let mut files: Vec<String> = maps
        .lines()
        .filter_map(map_line)
        .map(|m| m.path)
        .filter(|path| {
            path.starts_with('/')
                && !path.starts_with("/dev/")
                && !path.starts_with("/memfd:")
                && !path.ends_with(" (deleted)")
        })
        .map(str::to_owned)
        .collect();
    files.sort_unstable();
    files.dedup();
    files
}

/// A mapping's line of `maps` (and first line in `smaps`), `start-end perms offset dev
/// inode [path]`; `None` for any other line.
struct MapLine<'a> {
    start: usize,
    end: usize,
    perms: &'a str,
    /// Empty for an anonymous mapping; may hold spaces.
    path: &'a str,
}

fn map_line(line: &str) -> Option<MapLine<'_>> {
    let mut fields = line.splitn(6, ' ');
    let (start, end) = fields.next()?.split_once('-')?;
    let start = usize::from_str_radix(start, 16).ok()?;
    let end = usize::from_str_radix(end, 16).ok()?;
    let perms = fields.next()?;
    // offset, device, inode: present in every mapping line.
    for _ in 0..3 {
        fields.next()?;
    }
    (perms.len() == 4 && end > start).then(|| MapLine {
        start,
        end,
        perms,
        path: fields.next().unwrap_or("").trim(),
    })
}

/// Reads a file of `/proc/self`, at most [`MAX_SMAPS_BYTES`]; an error past it, so that a
/// cut list is never taken for a whole one.
fn read_bounded(path: &str) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_SMAPS_BYTES)
        .read_to_string(&mut text)?;
    if text.len() as u64 >= MAX_SMAPS_BYTES {
        return Err(std::io::Error::other(format!(
            "{path} is longer than {MAX_SMAPS_BYTES} bytes"
        )));
    }
    Ok(text)
}

/// One mapping whose page-table entries can be dropped: `[start, end)` and how many bytes
/// of it were resident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Releasable {
    /// First address.
    pub start: usize,
    /// One past the last address.
    pub end: usize,
    /// `Rss` of the mapping, bytes.
    pub resident_bytes: u64,
}

/// Longest `/proc/self/smaps` or `maps` read: the agent has about 40 mappings of ~1 KB of
/// `smaps` text each.
pub const MAX_SMAPS_BYTES: u64 = 1 << 20;

/// The mappings of `smaps` (the text of `/proc/self/smaps`) whose pages can be given back:
/// mappings of one of `files` (as `smaps` names them), private, not writable and never made
/// writable, with no private page resident or swapped, something resident. Pure; a mapping
/// whose `Anonymous`, `Swap` or `VmFlags` line is missing or unreadable is not releasable.
pub fn releasable(smaps: &str, files: &[String]) -> Vec<Releasable> {
    /// What the lines of the mapping being read said so far.
    #[derive(Default)]
    struct Seen {
        range: Option<(usize, usize, bool)>,
        anonymous: Option<u64>,
        swap: Option<u64>,
        never_writable: Option<bool>,
        resident: u64,
    }
    let mut out = Vec::new();
    let mut close = |m: Seen| {
        if let Some((start, end, true)) = m.range
            && m.anonymous == Some(0)
            && m.swap == Some(0)
            && m.never_writable == Some(true)
            && m.resident > 0
        {
            out.push(Releasable {
                start,
                end,
                resident_bytes: m.resident * 1024,
            });
        }
    };
    let mut seen = Seen::default();
    for line in smaps.lines() {
        if let Some(header) = mapping_header(line, files) {
            close(std::mem::take(&mut seen));
            seen.range = Some(header);
        } else if let Some(v) = line.strip_prefix("Anonymous:") {
            seen.anonymous = kilobytes(v);
        } else if let Some(v) = line.strip_prefix("Swap:") {
            seen.swap = kilobytes(v);
        } else if let Some(v) = line.strip_prefix("Rss:") {
            seen.resident = kilobytes(v).unwrap_or(0);
        } else if let Some(v) = line.strip_prefix("VmFlags:") {
            seen.never_writable = Some(!v.split_whitespace().any(|f| f == "ac" || f == "wr"));
        }
    }
    close(seen);
    out
}

/// A mapping's first line: its range and whether it is a private, read-only mapping of one
/// of `files`.
fn mapping_header(line: &str, files: &[String]) -> Option<(usize, usize, bool)> {
    let m = map_line(line)?;
    let qualifies = m.perms.starts_with('r')
        && m.perms.as_bytes()[1] == b'-'
        && m.perms.ends_with('p')
        && files.iter().any(|f| f == m.path);
    Some((m.start, m.end, qualifies))
}

fn kilobytes(v: &str) -> Option<u64> {
    v.trim().strip_suffix("kB")?.trim().parse().ok()
}

/// Drops the page-table entries of every [`releasable`] mapping of the files mapped at
/// start (or of the executable alone, when [`remember_startup_files`] was not called).
/// Returns the resident bytes they had (what the RSS drops by, less what is mapped back at
/// once).
pub fn release_file_pages() -> std::io::Result<u64> {
    let (files, ranges) = match STARTUP_FILES.get() {
        Some((files, ranges)) => (files.clone(), Some(ranges)),
        None => {
            let exe = std::fs::read_link("/proc/self/exe")?;
            let Some(exe) = exe.to_str() else {
                return Ok(0);
            };
            (vec![exe.to_owned()], None)
        }
    };
    // A list cut at the bound could lack a mapping's flags: it is refused whole.
    let smaps = read_bounded("/proc/self/smaps")?;
    let mut released = 0;
    let started_with = |m: &Releasable| ranges.is_none_or(|r| r.contains(&(m.start, m.end)));
    for m in releasable(&smaps, &files).into_iter().filter(started_with) {
        // SAFETY: `[start, end)` is a whole mapping, as the kernel listed it, of a file the
        // loader mapped before `main` and never unmaps: private, read-only and never
        // writable, with no private page resident or swapped (module docs). Dropping its
        // entries changes no readable byte; it holds no Rust object.
        #[allow(unsafe_code)]
        let r = unsafe {
            libc::madvise(
                m.start as *mut libc::c_void,
                m.end - m.start,
                libc::MADV_DONTNEED,
            )
        };
        if r == 0 {
            released += m.resident_bytes;
        }
    }
    Ok(released)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A path with a space, as a path in `smaps` may have.
    const EXE: &str = "/opt/zero fault/zerofault-agent";

    const SMAPS: &str = "\
55c06e70b000-55c06e828000 r--p 00000000 fe:00 2419767                    /opt/zero fault/zerofault-agent
Size:               1140 kB
Rss:                 724 kB
Anonymous:             0 kB
Swap:                  0 kB
VmFlags: rd mr mw me
55c06e828000-55c06eb8a000 r-xp 0011c000 fe:00 2419767                    /opt/zero fault/zerofault-agent
Rss:                3336 kB
Anonymous:             0 kB
Swap:                  0 kB
VmFlags: rd ex mr mw me
55c06eb8a000-55c06eba7000 r--p 0047d000 fe:00 2419767                    /opt/zero fault/zerofault-agent
Rss:                 116 kB
Anonymous:           116 kB
Swap:                  0 kB
VmFlags: rd mr mw me ac
55c06eba7000-55c06eba8000 r--p 0047e000 fe:00 2419767                    /opt/zero fault/zerofault-agent
Rss:                   4 kB
Anonymous:             0 kB
Swap:                  8 kB
VmFlags: rd mr mw me
55c06eba8000-55c06eba9000 r--p 0047f000 fe:00 2419767                    /opt/zero fault/zerofault-agent
Rss:                   4 kB
Anonymous:             0 kB
Swap:                  0 kB
VmFlags: rd mr mw me ac
55c06eba9000-55c06ebab000 rw-p 00499000 fe:00 2419767                    /opt/zero fault/zerofault-agent
Rss:                   8 kB
Anonymous:             8 kB
Swap:                  0 kB
VmFlags: rd wr mr mw me ac
55c06ebb0000-55c06ebb1000 r--p 00000000 fe:00 2419767                    /opt/zero fault/zerofault-agent
Rss:                   4 kB
Anonymous:             0 kB
55c06f000000-55c06f100000 rw-p 00000000 00:00 0                          [heap]
Rss:                 240 kB
Anonymous:           240 kB
Swap:                  0 kB
VmFlags: rd wr mr mw me ac
7f33c74db000-7f33c7631000 r-xp 00026000 fe:00 326279                     /usr/lib/x86_64-linux-gnu/libc.so.6
Rss:                 852 kB
Anonymous:             0 kB
Swap:                  0 kB
VmFlags: rd ex mr mw me
7ffd0000000-7ffd0001000 r-xp 00000000 00:00 0                            [vdso]
Rss:                   4 kB
Anonymous:             0 kB
Swap:                  0 kB
VmFlags: rd ex mr mw me
";

    #[test]
    fn only_the_executables_never_written_read_only_mappings_are_given_back() {
        let r = releasable(SMAPS, &[EXE.to_owned()]);
        let starts: Vec<usize> = r.iter().map(|m| m.start).collect();
        // The agent's headers and read-only data, its code. Not: relocated data made
        // read-only (anonymous pages; swapped out; marked `ac`), writable data, a mapping
        // whose counts are missing, the heap, a shared library, the vDSO.
        assert_eq!(starts, [0x55c0_6e70_b000, 0x55c0_6e82_8000]);
        assert_eq!(r[1].end, 0x55c0_6eb8_a000);
        assert_eq!(r[1].resident_bytes, 3336 * 1024);
        assert!(releasable("", &[EXE.to_owned()]).is_empty());
        assert!(releasable(SMAPS, &[]).is_empty());
        let libc = "/usr/lib/x86_64-linux-gnu/libc.so.6".to_owned();
        assert_eq!(releasable(SMAPS, &[libc])[0].start, 0x7f33_c74d_b000);
        assert!(releasable("garbage\nRss: 4 kB\nAnonymous: 0 kB\n", &[EXE.to_owned()]).is_empty());
    }

    #[test]
    fn the_files_mapped_at_start_are_paths_each_once() {
        let maps = "\
55c06e70b000-55c06e828000 r--p 00000000 fe:00 2419767                    /opt/zero fault/zerofault-agent
55c06e828000-55c06eb8a000 r-xp 0011c000 fe:00 2419767                    /opt/zero fault/zerofault-agent
55c06f000000-55c06f100000 rw-p 00000000 00:00 0                          [heap]
7f33c74db000-7f33c7631000 r-xp 00026000 fe:00 326279                     /usr/lib/x86_64-linux-gnu/libc.so.6
7f33c7700000-7f33c7701000 rw-s 00000000 00:01 12                         /memfd:x (deleted)
7f33c7800000-7f33c7801000 r--p 00000000 00:05 12                         /dev/zero
7f33c7900000-7f33c7901000 r--p 00000000 fe:00 9                          /usr/lib/old.so (deleted)
7ffd0000000-7ffd0001000 r-xp 00000000 00:00 0                            [vdso]
";
        assert_eq!(
            mapped_files(maps),
            [
                "/opt/zero fault/zerofault-agent",
                "/usr/lib/x86_64-linux-gnu/libc.so.6"
            ]
        );
    }

    #[test]
    fn this_process_gives_back_its_code_and_keeps_running_it() {
        let exe = std::fs::read_link("/proc/self/exe").unwrap();
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let before = releasable(&smaps, &[exe.to_str().unwrap().to_owned()]);
        assert!(
            !before.is_empty(),
            "a test binary has read-only mappings: {smaps}"
        );
        assert!(release_file_pages().unwrap() > 0);
        // The code still runs (its pages come back from the file) and gives back again.
        let again = release_file_pages().unwrap();
        assert!(again > 0, "{again}");
    }
}
