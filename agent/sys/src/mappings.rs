//! Gives back the page-table entries of the agent's read-only file mappings (its own code and
//! the shared libraries'), `madvise(MADV_DONTNEED)`.
//!
//! Why: nearly all of the agent's 4.3 MiB of code was resident although a collection cycle
//! runs a fraction of it. Start-up (configuration, YAML, TLS set-up, certificate parsing)
//! touches most of it once, and the kernel maps 64 KiB around every page fault on a file
//! ("fault-around"), so those pages stay mapped, and counted in the agent's RSS, for the
//! life of the process. Dropping the mappings once start-up is over, and again now and then
//! for rarely used paths, leaves mapped what the cycle runs (measured in docs/benchmarks.md).
//! The pages stay in the page cache; unmapped, they are what the kernel reclaims first when
//! the host needs memory, and a page the agent runs again is mapped back by a minor fault.
//!
//! Sound because only mappings that cannot hold anything but the file's bytes are touched:
//! private (`p`), not writable, backed by a file (a path, not `/dev/`), and without a single
//! private (anonymous) page, as `/proc/self/smaps` says. `MADV_DONTNEED` on such a mapping
//! changes no byte the process can read: the next access reads the same file page, exactly
//! what the kernel's own reclaim of clean file pages leads to at any time. A mapping that
//! was written to (relocated data made read-only afterwards, RELRO) has anonymous pages and
//! is left alone. The mappings are read and advised in one thread; a mapping can only become
//! writable again by `mprotect`, which the agent never calls.

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

/// Longest `/proc/self/smaps` read: the agent has about 40 mappings of ~1 KB of text each.
pub const MAX_SMAPS_BYTES: u64 = 1 << 20;

/// The mappings of `smaps` (the text of `/proc/self/smaps`) whose pages can be given back:
/// private, not writable, file-backed, no anonymous page, something resident. Pure; a
/// mapping whose `Anonymous` line is missing or unreadable is not releasable.
pub fn releasable(smaps: &str) -> Vec<Releasable> {
    let mut out = Vec::new();
    // The mapping being read: its range, whether its header qualifies, and what its lines
    // said so far (anonymous kB, resident kB).
    let mut current: Option<(usize, usize, bool)> = None;
    let mut anonymous: Option<u64> = None;
    let mut resident = 0u64;
    let mut close = |m: Option<(usize, usize, bool)>, anonymous: Option<u64>, resident: u64| {
        if let Some((start, end, true)) = m
            && anonymous == Some(0)
            && resident > 0
        {
            out.push(Releasable {
                start,
                end,
                resident_bytes: resident * 1024,
            });
        }
    };
    for line in smaps.lines() {
        if let Some(header) = mapping_header(line) {
            close(current.take(), anonymous.take(), resident);
            current = Some(header);
            resident = 0;
        } else if let Some(v) = line.strip_prefix("Anonymous:") {
            anonymous = kilobytes(v);
        } else if let Some(v) = line.strip_prefix("Rss:") {
            resident = kilobytes(v).unwrap_or(0);
        }
    }
    close(current, anonymous, resident);
    out
}

/// A mapping's first line, `start-end perms offset dev inode [path]`: its range and
/// whether its kind qualifies (private, not writable, a file that is not a device).
fn mapping_header(line: &str) -> Option<(usize, usize, bool)> {
    let mut fields = line.split_whitespace();
    let (start, end) = fields.next()?.split_once('-')?;
    let start = usize::from_str_radix(start, 16).ok()?;
    let end = usize::from_str_radix(end, 16).ok()?;
    let perms = fields.next()?;
    if perms.len() != 4 || end <= start {
        return None;
    }
    let path = fields.nth(3).unwrap_or("");
    let qualifies = perms.starts_with('r')
        && perms.as_bytes()[1] == b'-'
        && perms.ends_with('p')
        && path.starts_with('/')
        && !path.starts_with("/dev/");
    Some((start, end, qualifies))
}

fn kilobytes(v: &str) -> Option<u64> {
    v.trim().strip_suffix("kB")?.trim().parse().ok()
}

/// Drops the page-table entries of every [`releasable`] mapping of this process. Returns
/// the resident bytes they had (what the RSS drops by, less what is mapped back at once).
pub fn release_file_pages() -> std::io::Result<u64> {
    use std::io::Read;
    let mut smaps = String::new();
    std::fs::File::open("/proc/self/smaps")?
        .take(MAX_SMAPS_BYTES)
        .read_to_string(&mut smaps)?;
    let mut released = 0;
    for m in releasable(&smaps) {
        // SAFETY: `[start, end)` is a whole mapping of this process as the kernel listed it:
        // private, read-only, file-backed, with no anonymous page (see the module docs), so
        // dropping its entries changes no readable byte; it holds no Rust object. A mapping
        // unmapped since the read makes the call fail (ENOMEM), which is harmless.
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

    const SMAPS: &str = "\
55c06e70b000-55c06e828000 r--p 00000000 fe:00 2419767                    /usr/bin/zerofault-agent
Size:               1140 kB
Rss:                 724 kB
Anonymous:             0 kB
55c06e828000-55c06eb8a000 r-xp 0011c000 fe:00 2419767                    /usr/bin/zerofault-agent
Rss:                3336 kB
Anonymous:             0 kB
55c06eb8a000-55c06eba7000 r--p 0047d000 fe:00 2419767                    /usr/bin/zerofault-agent
Rss:                 116 kB
Anonymous:           116 kB
55c06eba7000-55c06eba9000 rw-p 00499000 fe:00 2419767                    /usr/bin/zerofault-agent
Rss:                   8 kB
Anonymous:             8 kB
55c06f000000-55c06f100000 rw-p 00000000 00:00 0                          [heap]
Rss:                 240 kB
Anonymous:           240 kB
7f33c74db000-7f33c7631000 r-xp 00026000 fe:00 326279                     /usr/lib/x86_64-linux-gnu/libc.so.6
Rss:                 852 kB
Anonymous:             0 kB
7f33c7700000-7f33c7701000 r--s 00000000 00:05 12                         /dev/shm/x
Rss:                   4 kB
Anonymous:             0 kB
7f33c7800000-7f33c7801000 r--p 00000000 00:05 12                         /dev/zero
Rss:                   4 kB
Anonymous:             0 kB
7f33c7900000-7f33c7910000 r--p 00000000 fe:00 1                          /usr/lib/cold.so
Rss:                   0 kB
Anonymous:             0 kB
7f33c7a00000-7f33c7a10000 r--p 00000000 fe:00 2                          /usr/lib/odd.so
Rss:                  64 kB
7ffd0000000-7ffd0001000 r-xp 00000000 00:00 0                            [vdso]
Rss:                   4 kB
Anonymous:             0 kB
";

    #[test]
    fn only_read_only_private_file_mappings_without_private_pages_are_given_back() {
        let r = releasable(SMAPS);
        let starts: Vec<usize> = r.iter().map(|m| m.start).collect();
        // The agent's headers and read-only data, its code, libc's code. Not: relocated
        // data (anonymous pages), writable data, the heap, a shared mapping, a device, a
        // mapping with nothing resident, one whose anonymous count is unknown, the vDSO.
        assert_eq!(
            starts,
            [0x55c0_6e70_b000, 0x55c0_6e82_8000, 0x7f33_c74d_b000]
        );
        assert_eq!(r[1].end, 0x55c0_6eb8_a000);
        assert_eq!(r[1].resident_bytes, 3336 * 1024);
        assert!(releasable("").is_empty());
        assert!(releasable("garbage\nRss: 4 kB\nAnonymous: 0 kB\n").is_empty());
    }

    #[test]
    fn this_process_gives_back_its_code_and_keeps_running_it() {
        let before = releasable(&std::fs::read_to_string("/proc/self/smaps").unwrap());
        assert!(
            !before.is_empty(),
            "a test binary has read-only file mappings"
        );
        let released = release_file_pages().unwrap();
        assert!(released > 0);
        // The code still runs (pages come back from the file on use) and reads the same.
        let again = release_file_pages().unwrap();
        assert!(again > 0 && format!("{again}").parse::<u64>().unwrap() == again);
    }
}
