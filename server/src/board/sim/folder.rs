//! The simulated Pico's private folder: its flash (the board's filesystem) and the Pico
//! modules it loads at boot, in a fresh folder of the temp folder that only this user can
//! enter.
//!
//! ```text
//! $TMPDIR/heaplens-sim-<pid>-<random>/   mode 0700, made with mkdtemp's safety (tempfile)
//!     flash/        the board's `/`: the interpreter's working folder; flash/lib is `/lib`
//!                   (empty at first, like a freshly flashed Pico's)
//!     modules/      machine.mpy, rp2.mpy, … (read-only to the interpreter)
//! ```
//!
//! The random part makes the name unpredictable and the folder is created exclusively, so
//! nobody can pre-create it with planted modules. It is removed when the board is dropped
//! (also on a panic's unwinding); folders left by a killed HeapLens are removed by the next
//! board that starts (their `<pid>` is no longer running).
//!
//! Must not know: ptys, the REPL, the sandbox.

use std::path::{Path, PathBuf};

use crate::board::pico_modules;

const PREFIX: &str = "heaplens-sim-";

/// A board's private folder (removed on drop).
#[derive(Debug)]
pub struct BoardFolder {
    dir: tempfile::TempDir,
    flash: PathBuf,
    modules: PathBuf,
}

impl BoardFolder {
    /// Creates a fresh private folder in the temp folder, with an empty flash (as a freshly
    /// flashed Pico's: no `lib/` until something is put there) and the Pico modules.
    pub fn create() -> std::io::Result<BoardFolder> {
        remove_stale(&std::env::temp_dir());
        use std::os::unix::fs::PermissionsExt;
        // mkdir with mode 0700 and a random name, retried on a clash: never an existing folder.
        let dir = tempfile::Builder::new()
            .prefix(&format!("{PREFIX}{}-", std::process::id()))
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir()?;
        let flash = dir.path().join("flash");
        let modules = dir.path().join("modules");
        std::fs::create_dir(&flash)?;
        std::fs::create_dir(&modules)?;
        pico_modules::write_to(&modules)?;
        Ok(BoardFolder {
            dir,
            flash,
            modules,
        })
    }

    /// The whole private folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The board's flash: what the script sees as `/`.
    pub fn flash(&self) -> &Path {
        &self.flash
    }

    /// The Pico modules' folder.
    pub fn modules(&self) -> &Path {
        &self.modules
    }
}

/// Removes private folders whose HeapLens process is gone (killed before it could clean
/// up). Only this user's own folders whose name carries a dead process id are touched.
fn remove_stale(temp: &Path) {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(temp) else {
        return;
    };
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<i32>().ok())
        else {
            continue;
        };
        // symlink_metadata: never follow a link someone else planted.
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        if !meta.is_dir() || meta.uid() != uid || process_alive(pid) {
            continue;
        }
        let _ = std::fs::remove_dir_all(entry.path());
    }
}

fn process_alive(pid: i32) -> bool {
    // Signal 0 checks existence; EPERM means it exists but is someone else's.
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) => true,
        Err(err) => err == nix::errno::Errno::EPERM,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_folder_is_private_unpredictable_and_removed_on_drop() {
        let a = BoardFolder::create().expect("folder");
        let b = BoardFolder::create().expect("folder");
        assert_ne!(a.path(), b.path());
        let mode = std::fs::metadata(a.path())
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700, "{mode:o}");
        assert!(a.flash().is_dir());
        assert_eq!(std::fs::read_dir(a.flash()).expect("flash").count(), 0);
        assert!(a.modules().join("machine.mpy").is_file());
        let name = a.path().file_name().unwrap().to_str().unwrap().to_string();
        let random = name.rsplit('-').next().unwrap();
        assert!(random.len() >= 6, "{name}");
        let path = a.path().to_path_buf();
        drop(a);
        assert!(!path.exists());
    }

    #[test]
    fn folders_of_dead_processes_are_removed_and_live_ones_kept() {
        let temp = tempfile::tempdir().expect("tmp");
        // A pid that cannot be running (above the kernel's pid_max).
        let dead = temp.path().join(format!("{PREFIX}2147483646-abcdef"));
        let live = temp
            .path()
            .join(format!("{PREFIX}{}-abcdef", std::process::id()));
        let other = temp.path().join("heaplens-other-1-x");
        for dir in [&dead, &live, &other] {
            std::fs::create_dir_all(dir.join("flash")).expect("mkdir");
        }
        remove_stale(temp.path());
        assert!(!dead.exists());
        assert!(live.exists());
        assert!(other.exists());
    }
}
