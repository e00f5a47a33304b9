//! The simulated Pico is a sandbox (issue 15, part 4): a script on it cannot start a host
//! program, read or write the host's files outside its flash, open a socket, or be fooled by a
//! module planted in the shared temp folder; each attempt fails with the script's own
//! `OSError` (or, for `os.system`, with the status of a shell that could not start) while
//! ordinary code keeps working. Its private folder is fresh, unpredictable, mode 0700, and
//! gone when the board stops.
//!
//! These tests need Landlock (Linux 5.13+); where the kernel lacks it they check that the
//! board says "not sandboxed" instead.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::heaplens_bin;

/// `heaplens exec --board sim CODE` with `TMPDIR=temp`.
fn exec_in(temp: &Path, code: &str) -> Output {
    Command::new(heaplens_bin())
        .args(["exec", "--board", "sim", code])
        .env("TMPDIR", temp)
        .output()
        .expect("spawn heaplens exec")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n")
}

/// Whether this kernel has Landlock (the sandbox's file and program rules).
fn landlock_here() -> bool {
    heaplens::board::kernel_landlock_abi() >= 1
}

/// The private folders of simulated boards in `temp`.
fn board_folders(temp: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(temp)
        .expect("read temp")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("heaplens-sim-"))
        })
        .collect()
}

#[test]
fn a_script_cannot_reach_the_host_but_ordinary_code_still_runs() {
    if !landlock_here() {
        eprintln!("skipping: this kernel has no Landlock");
        return;
    }
    let temp = tempfile::tempdir().expect("tmp");
    let witness = temp.path().join("shell-ran");
    let outside = temp.path().join("written-outside");
    let code = format!(
        r#"import os, socket
print("shell", os.system("touch {witness}; echo the shell ran"))
def attempt(label, action):
    try:
        action()
        print(label, "succeeded")
    except OSError as e:
        print(label, "OSError", e.errno)
attempt("passwd through ..", lambda: open("/../../../../../../etc/passwd").read())
def remount():
    os.umount("/")
    os.mount(os.VfsPosix(""), "/")
    try:
        open("/etc/passwd").read()
    finally:
        os.umount("/")
        os.mount(os.VfsPosix(os.getenv("NOTHING") or "."), "/")
attempt("passwd through a host mount", remount)
# The flash is mounted at /, so host paths are reached by climbing out of it.
up = "/.." * 12
attempt("write outside", lambda: open(up + "{outside}", "w").write("x"))
attempt("list the temp folder", lambda: os.listdir(up + "{temp}"))
attempt("socket", lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
attempt("unix socket", lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
print("environment", os.getenv("HOME"), os.getenv("PATH"))
with open("/notes.txt", "w") as f:
    f.write("kept in flash")
print("flash", open("notes.txt").read(), sorted(os.listdir("/")))
"#,
        witness = witness.display(),
        outside = outside.display(),
        temp = temp.path().display(),
    );
    let out = exec_in(temp.path(), &code);
    assert!(out.status.success(), "{out:?}");
    // glibc's system() reports a shell that could not start as exit status 127 (127 << 8).
    assert_eq!(
        stdout(&out),
        "shell 32512
passwd through .. OSError 13
passwd through a host mount OSError 13
write outside OSError 13
list the temp folder OSError 13
socket OSError 13
unix socket OSError 13
environment None None
flash kept in flash ['notes.txt']
"
    );
    assert!(!witness.exists(), "the host shell ran");
    assert!(!outside.exists(), "the script wrote outside its flash");
    // The board's folder went with it.
    assert_eq!(board_folders(temp.path()), Vec::<PathBuf>::new());
}

#[test]
fn modules_planted_in_the_shared_temp_folder_are_never_imported() {
    let temp = tempfile::tempdir().expect("tmp");
    for name in ["time", "machine", "helper", "boot"] {
        std::fs::write(
            temp.path().join(format!("{name}.py")),
            format!("print('PLANTED {name}')\n"),
        )
        .expect("plant");
    }
    // The old predictable folder names, pre-created by "another user".
    for n in 0..3 {
        let dir = temp.path().join(format!("heaplens-sim-{n}-0"));
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("time.py"), "print('PLANTED in folder')\n").expect("plant");
    }
    let out = exec_in(
        temp.path(),
        "import time, machine\ntry:\n    import helper\nexcept ImportError as e:\n    print('ImportError', e)\nprint(time.ticks_ms() >= 0, machine.Pin(1))",
    );
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    assert!(!text.contains("PLANTED"), "{text}");
    assert_eq!(
        text,
        "ImportError no module named 'helper'\nTrue Pin(GPIO1, mode=IN)\n"
    );
    if landlock_here() {
        let out = exec_in(
            temp.path(),
            &format!(
                "try:\n    open('/..' * 12 + {:?}).read()\nexcept OSError as e:\n    print('OSError', e.errno)",
                temp.path().join("time.py").display().to_string()
            ),
        );
        assert_eq!(stdout(&out), "OSError 13\n", "{out:?}");
    }
}

#[test]
fn the_private_folder_is_0700_unpredictable_and_removed_at_exit_or_by_the_next_board() {
    let temp = tempfile::tempdir().expect("tmp");
    let start = || {
        let mut child = Command::new(heaplens_bin())
            .arg("sim")
            .env("TMPDIR", temp.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn heaplens sim");
        // It prints its pty path once the board (and its folder) exists.
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
            &mut line,
        )
        .expect("pty path");
        child
    };
    let signal = |child: &std::process::Child, sig| {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
        nix::sys::signal::kill(pid, sig).expect("kill");
    };

    let mut first = start();
    let folders = board_folders(temp.path());
    assert_eq!(folders.len(), 1, "{folders:?}");
    let folder = &folders[0];
    let mode = std::fs::metadata(folder)
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "{mode:o}");
    let name = folder.file_name().and_then(|n| n.to_str()).expect("name");
    let random = name.rsplit('-').next().expect("suffix");
    assert!(random.len() >= 6, "{name}");
    assert!(!name.ends_with(&format!("{}-0", first.id())), "{name}");
    // SIGTERM (Ctrl-C, a service manager): the board stops and removes its folder.
    signal(&first, nix::sys::signal::Signal::SIGTERM);
    first.wait().expect("wait");
    assert_eq!(board_folders(temp.path()), Vec::<PathBuf>::new());

    // SIGKILL leaves the folder behind; the next board removes it.
    let mut killed = start();
    let left = board_folders(temp.path());
    assert_eq!(left.len(), 1);
    signal(&killed, nix::sys::signal::Signal::SIGKILL);
    killed.wait().expect("wait");
    assert!(left[0].exists());
    let mut next = start();
    let now = board_folders(temp.path());
    assert!(!now.contains(&left[0]), "{now:?}");
    assert_eq!(now.len(), 1, "{now:?}");
    signal(&next, nix::sys::signal::Signal::SIGTERM);
    next.wait().expect("wait");
}

#[test]
fn the_project_folder_is_readable_and_never_writable() {
    if !landlock_here() {
        eprintln!("skipping: this kernel has no Landlock");
        return;
    }
    use heaplens::board::{Board, BoardSpec, LinkOptions, SimOptions};
    let project = tempfile::tempdir().expect("tmp");
    std::fs::create_dir_all(project.path().join("lib")).expect("mkdir");
    std::fs::write(project.path().join("helper.py"), "NAME = 'helper'\n").expect("write");
    std::fs::write(project.path().join("lib/driver.py"), "NAME = 'driver'\n").expect("write");
    let sim = SimOptions {
        project_root: Some(project.path().to_path_buf()),
        ..SimOptions::default()
    };
    let mut board =
        Board::open(&BoardSpec::Simulated, &sim, &LinkOptions::default()).expect("board");
    let out = board
        .exec_capture(&format!(
            "import helper, driver, os\n\
             print(helper.NAME, driver.NAME, sorted(os.listdir('/project')))\n\
             up = '/..' * 12\n\
             for label, path in (('mount', '/project/new.py'), ('host path', up + {project:?} + '/new.py'), \
             ('beside it', up + {parent:?} + '/escaped.py')):\n    try:\n        open(path, 'w')\n        print(label, 'written')\n\
             \x20   except OSError as e:\n        print(label, 'OSError', e.errno)",
            project = project.path().display().to_string(),
            parent = project.path().parent().expect("parent").display().to_string(),
        ))
        .expect("exec");
    assert_eq!(out.traceback, None, "{out:?}");
    // The read-only mount says EROFS; the kernel (Landlock) says EACCES under any path.
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n"),
        "helper driver ['helper.py', 'lib']\nmount OSError 30\nhost path OSError 13\nbeside it OSError 13\n"
    );
    assert!(!project.path().join("new.py").exists());
    assert!(!project
        .path()
        .parent()
        .expect("parent")
        .join("escaped.py")
        .exists());
    board.close();
}

#[test]
fn files_put_in_the_flash_folder_are_on_the_board_and_go_with_it() {
    use heaplens::board::{Board, BoardSpec, LinkOptions, SimOptions};
    let mut board = Board::open(
        &BoardSpec::Simulated,
        &SimOptions::default(),
        &LinkOptions::default(),
    )
    .expect("board");
    let flash = board
        .simulator_flash_dir()
        .expect("a simulated board has a flash folder")
        .to_path_buf();
    std::fs::create_dir_all(flash.join("lib")).expect("mkdir");
    std::fs::write(flash.join("helper.py"), "WHERE = 'flash'\n").expect("write");
    std::fs::write(flash.join("lib/driver.py"), "WHERE = 'lib'\n").expect("write");
    let out = board
        .exec_capture(
            "import helper, driver, os\nprint(helper.WHERE, driver.WHERE, sorted(os.listdir('/')))\n\
             open('/made-on-board.txt', 'w').write('x')",
        )
        .expect("exec");
    assert_eq!(out.traceback, None, "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n"),
        "flash lib ['helper.py', 'lib']\n"
    );
    assert!(flash.join("made-on-board.txt").is_file());
    // Kept across a soft reset, like a Pico's flash.
    board.soft_reset().expect("soft reset");
    let out = board
        .exec_capture("print(open('made-on-board.txt').read())")
        .expect("exec");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "x");
    board.close();
    assert!(!flash.exists(), "the flash folder outlived its board");
}
