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
            inodes: 64,
            inodes_free: 16,
            read_only: false,
        },
    )
    .unwrap();
    assert_eq!(fs.size_bytes, 4_096_000);
    assert_eq!(fs.used_bytes, 700 * 4096);
    assert_eq!(fs.available_bytes, 250 * 4096);
    assert_eq!(
        (fs.inodes_total, fs.inodes_free, fs.read_only),
        (Some(64), Some(16), Some(false))
    );
    // btrfs has no fixed inode count (f_files 0): absent, not 0 free of 0; read-only shows.
    let btrfs = filesystem_from(
        &m,
        FsStats {
            fragment_size: 4096,
            blocks: 1000,
            blocks_free: 300,
            blocks_available: 250,
            inodes: 0,
            inodes_free: 0,
            read_only: true,
        },
    )
    .unwrap();
    assert_eq!(
        (btrfs.inodes_total, btrfs.inodes_free, btrfs.read_only),
        (None, None, Some(true))
    );
    let zero = FsStats {
        fragment_size: 4096,
        blocks: 0,
        blocks_free: 0,
        blocks_available: 0,
        inodes: 0,
        inodes_free: 0,
        read_only: false,
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
