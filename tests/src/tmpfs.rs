//! A tiny tmpfs, to give a test a filesystem that fills up (needs root).

use std::path::Path;
use std::process::Command;

use tempfile::TempDir;

/// A tmpfs mounted on a temporary directory; unmounted and removed on drop, also while a
/// failed test unwinds.
#[derive(Debug)]
pub struct Tmpfs {
    // Declared last on purpose: the mount point is removed after `drop` unmounted it.
    dir: TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (mount(8) syntax, e.g. `256k`) on a new temporary directory.
    pub fn mount(size: &str) -> anyhow::Result<Self> {
        let euid = crate::netns::euid()?;
        anyhow::ensure!(
            euid == 0,
            "mounting a tmpfs needs root (effective uid is {euid}); run the tests as root, \
             e.g. `sudo -E cargo test -p zerofault-tests` (CI runs the test command as root)"
        );
        let dir = tempfile::Builder::new().prefix("zf-tmpfs-").tempdir()?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={size},mode=0700"))
            .arg("zf-test-tmpfs")
            .arg(dir.path())
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "mount -t tmpfs -o size={size} on {}: {}",
            dir.path().display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(Self { dir })
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // A process still holding a file there (a killed child not reaped yet) makes a plain
        // umount fail with EBUSY; the lazy one detaches it anyway, so no mount is left behind.
        let plain = Command::new("umount").arg(self.dir.path()).status();
        if !plain.is_ok_and(|s| s.success()) {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status();
        }
    }
}
