//! The filesystem `disk_pressure` fills: a size-limited tmpfs the harness
//! mounts in the run directory (root only), watched by a node-exporter that
//! sees nothing else, so that host disks can neither trigger nor hide
//! DiskSpaceLow.
//!
//! Unmounting is guaranteed: teardown unmounts, and dropping a mounted
//! [`Disk`] (early return, panic) lazily unmounts it on the spot.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

pub const SIZE_MB: u64 = 64;
const FILL_FILE: &str = "zeta-bench-fill";

pub struct Disk {
    pub mountpoint: PathBuf,
    mounted: bool,
}

/// Whether this process may mount a tmpfs (root), with the reason if not.
pub fn can_mount() -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("disk_pressure mounts a size-limited tmpfs, which needs root; run zeta-bench as root (a container with CAP_SYS_ADMIN will do)".into());
    }
    Ok(())
}

/// `dir` is inside `run_dir` and no symlink, else why not.
pub fn check_mount_target(run_dir: &Path, dir: &Path) -> anyhow::Result<()> {
    if std::fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink()) {
        bail!(
            "refusing to mount a tmpfs at {}: it is a symlink",
            dir.display()
        );
    }
    let run = run_dir
        .canonicalize()
        .with_context(|| format!("resolving the run directory {}", run_dir.display()))?;
    let target = match dir.canonicalize() {
        Ok(t) => t,
        // Not there yet: its parent must be inside the run directory.
        Err(_) => dir
            .parent()
            .map(|p| p.canonicalize())
            .transpose()?
            .unwrap_or_default()
            .join(dir.file_name().unwrap_or_default()),
    };
    if !target.starts_with(&run) || target == run {
        bail!(
            "refusing to mount a tmpfs at {}: it is not inside the run directory {}",
            target.display(),
            run.display()
        );
    }
    Ok(())
}

impl Disk {
    /// Mount at `dir`, which must lie inside `run_dir` and not be (or pass
    /// through) a symlink: as root, a mount elsewhere could hide a system
    /// directory.
    pub fn mount(run_dir: &Path, dir: &Path) -> anyhow::Result<Disk> {
        can_mount().map_err(anyhow::Error::msg)?;
        check_mount_target(run_dir, dir)?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        check_mount_target(run_dir, dir)?;
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={SIZE_MB}m,mode=0755"),
                "zeta-bench-disk",
            ])
            .arg(dir)
            .output()
            .context("running mount")?;
        if !out.status.success() {
            bail!(
                "mounting a tmpfs at {} failed: {}",
                dir.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(Disk {
            mountpoint: dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf()),
            mounted: true,
        })
    }

    /// Share of the filesystem in use, 0 to 1.
    pub fn usage(&self) -> anyhow::Result<f64> {
        let s = nix::sys::statvfs::statvfs(&self.mountpoint).context("statvfs")?;
        let total = s.blocks() as f64;
        let avail = s.blocks_available() as f64;
        Ok(if total > 0.0 {
            1.0 - avail / total
        } else {
            0.0
        })
    }

    /// Write zeros until `level` of the filesystem is used; returns the
    /// level reached (verified by statvfs).
    pub fn fill_to(&self, level: f64) -> anyhow::Result<f64> {
        let s = nix::sys::statvfs::statvfs(&self.mountpoint)?;
        let total = s.blocks() as u64 * s.fragment_size() as u64;
        let used = total - s.blocks_available() as u64 * s.fragment_size() as u64;
        let want = ((level.clamp(0.0, 0.99) * total as f64) as u64).saturating_sub(used);
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.mountpoint.join(FILL_FILE))
            .context("creating the fill file")?;
        let chunk = vec![0u8; 1 << 20];
        let mut left = want;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            f.write_all(&chunk[..n]).context("filling the disk")?;
            left -= n as u64;
        }
        f.sync_all().ok();
        self.usage()
    }

    /// Remove the fill; returns the level afterwards.
    pub fn drain(&self) -> anyhow::Result<f64> {
        match std::fs::remove_file(self.mountpoint.join(FILL_FILE)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).context("removing the fill file"),
        }
        self.usage()
    }

    pub fn unmount(&mut self) -> anyhow::Result<()> {
        if !self.mounted {
            return Ok(());
        }
        let out = Command::new("umount")
            .arg(&self.mountpoint)
            .output()
            .context("running umount")?;
        if !out.status.success() {
            // Busy: detach now, free when the last user goes.
            let _ = Command::new("umount")
                .arg("-l")
                .arg(&self.mountpoint)
                .output();
        }
        self.mounted = false;
        Ok(())
    }

    pub fn is_mounted(path: &Path) -> bool {
        let Ok(p) = path.canonicalize() else {
            return false;
        };
        std::fs::read_to_string("/proc/self/mounts")
            .unwrap_or_default()
            .lines()
            .any(|l| l.split_whitespace().nth(1) == Some(p.to_str().unwrap_or("")))
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(&self.mountpoint)
                .output();
        }
    }
}

/// A Go (RE2) regex matching every string except `s`: node-exporter 1.5 can
/// only exclude mount points, so everything but ours is excluded.
pub fn all_but(s: &str) -> String {
    let esc = |c: char| {
        if c.is_ascii_alphanumeric() || c == '/' || c == '_' || c == '-' {
            c.to_string()
        } else {
            format!("\\x{{{:x}}}", c as u32)
        }
    };
    let chars: Vec<char> = s.chars().collect();
    let mut alts = Vec::new();
    for i in 0..chars.len() {
        let prefix: String = chars[..i].iter().map(|c| esc(*c)).collect();
        // Differs at position i (or ends there).
        alts.push(format!("{prefix}[^{}].*", esc(chars[i])));
        alts.push(prefix);
    }
    let whole: String = chars.iter().map(|c| esc(*c)).collect();
    alts.push(format!("{whole}.+"));
    format!("^(?:{})$", alts.join("|"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_but_matches_everything_except_the_path() {
        // Rust's regex has RE2's syntax and semantics (no look-around).
        let re = regex::Regex::new(&all_but("/tmp/run-1/disk")).unwrap();
        assert!(!re.is_match("/tmp/run-1/disk"));
        for other in [
            "/",
            "/tmp",
            "/tmp/run-1",
            "/tmp/run-1/dis",
            "/tmp/run-1/disk2",
            "/tmp/run-1/disk/x",
            "/tmp/run-2/disk",
            "/home",
            "",
        ] {
            assert!(re.is_match(other), "{other:?} must be excluded");
        }
    }

    #[test]
    fn the_mount_target_must_be_inside_the_run_directory_and_no_symlink() {
        let run = tempfile::tempdir().unwrap();
        let inside = run.path().join("disk");
        assert!(check_mount_target(run.path(), &inside).is_ok());
        let outside = tempfile::tempdir().unwrap();
        let e = check_mount_target(run.path(), outside.path()).unwrap_err();
        assert!(
            e.to_string().contains("not inside the run directory"),
            "{e}"
        );
        let link = run.path().join("link");
        std::os::unix::fs::symlink(outside.path(), &link).unwrap();
        let e = check_mount_target(run.path(), &link).unwrap_err();
        assert!(e.to_string().contains("symlink"), "{e}");
        let through = link.join("disk");
        let e = check_mount_target(run.path(), &through).unwrap_err();
        assert!(e.to_string().contains("not inside"), "{e}");
        assert!(check_mount_target(run.path(), run.path()).is_err());
    }
}
