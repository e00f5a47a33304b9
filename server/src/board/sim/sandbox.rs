//! The simulated Pico's sandbox: what the interpreter may touch of the host, enforced by the
//! kernel before the interpreter starts.
//!
//! - **Files** (Landlock): its own flash folder read-write, the project and the Pico modules
//!   read-only, and what the interpreter program itself needs to start (its file, the program
//!   a `#!` line names, their ELF loader, the system's shared-library folders, and for a
//!   Python-packaged interpreter its Python installation and virtual environment) read-only.
//!   Nothing else: no other file of the host, no home folder, no `/etc`, no `/tmp`.
//! - **Programs**: only the interpreter chain may be executed, so `os.system()` cannot start
//!   a shell (the shell fails to start: status 127).
//! - **Network** (seccomp): `socket()` fails with `EACCES` for every address family, so no
//!   TCP, UDP, raw or Unix-socket traffic (Landlock's own TCP rules, ABI 4+, are added as a
//!   second wall; they alone would leave UDP and Unix sockets open), and `io_uring` is off.
//! - **Signals and abstract Unix sockets** (Landlock scopes, ABI 6+): none reach outside.
//!
//! Both filters are built once per board in the supervisor (where allocating is safe) and
//! applied in the forked child just before `exec` with two system calls each, which are
//! async-signal-safe: see [`Sandbox::apply_in_child`]. A re-exec of our own binary as a
//! sandboxing launcher would also work, but would need that binary (absent in library tests
//! and benches) and one more exec at every soft reset.
//!
//! Must not know: ptys, the REPL, heaps.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::board::sim_options::SandboxStatus;
use landlock::{
    Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset,
    RulesetAttr, RulesetCreatedAttr, Scope, ABI,
};

/// The newest Landlock ABI this code was tested with; newer kernels get these rights (the
/// crate's best-effort mode drops the ones an older kernel lacks).
const TESTED_ABI: ABI = ABI::V7;

/// Folders of shared libraries that a dynamically linked interpreter may load from.
const LIBRARY_DIRS: [&str; 7] = [
    "/lib",
    "/lib32",
    "/lib64",
    "/usr/lib",
    "/usr/lib32",
    "/usr/lib64",
    "/usr/local/lib",
];

/// `HEAPLENS_SIM_SANDBOX=off` starts the simulated Pico unconfined, as on a kernel without
/// Landlock (tests of the "not sandboxed" path use it; the board then says so).
pub const NO_SANDBOX_ENV: &str = "HEAPLENS_SIM_SANDBOX";

/// Files the dynamic loader reads.
const LOADER_FILES: [&str; 2] = ["/etc/ld.so.cache", "/etc/ld.so.preload"];

/// What the interpreter may reach, as host paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowed {
    /// Read, write, create, remove (never execute).
    pub read_write: Vec<PathBuf>,
    /// Read files and list folders.
    pub read: Vec<PathBuf>,
    /// Read and execute (the interpreter chain).
    pub execute: Vec<PathBuf>,
}

/// A sandbox ready to be applied to each interpreter the supervisor starts.
pub struct Sandbox {
    /// The Landlock ruleset's fd (None when the kernel has no Landlock).
    ruleset: Option<OwnedFd>,
    /// The seccomp program (None where seccomp filters cannot be built for this CPU).
    seccomp: Option<seccompiler::BpfProgram>,
    status: SandboxStatus,
}

/// Why a sandbox could not be built although the kernel supports it (fails the board: a
/// board that claims to be sandboxed must be).
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("building the Landlock ruleset: {0}")]
    Landlock(#[from] landlock::RulesetError),
    #[error("building the seccomp filter: {0}")]
    Seccomp(#[from] seccompiler::BackendError),
}

impl Sandbox {
    /// Builds the rules for `allowed` on this kernel.
    pub fn build(allowed: &Allowed) -> Result<Sandbox, SandboxError> {
        if std::env::var_os(NO_SANDBOX_ENV).is_some_and(|v| v == "off") {
            return Ok(Sandbox {
                ruleset: None,
                seccomp: None,
                status: SandboxStatus::NotSandboxed {
                    reason: format!("{NO_SANDBOX_ENV}=off"),
                },
            });
        }
        let seccomp = network_filter()?;
        let abi = kernel_landlock_abi();
        if abi < 1 {
            return Ok(Sandbox {
                ruleset: None,
                seccomp,
                status: SandboxStatus::NotSandboxed {
                    reason: "this kernel has no Landlock (Linux 5.13+ with Landlock enabled)"
                        .into(),
                },
            });
        }
        let network_blocked = seccomp.is_some();
        let mut ruleset = Ruleset::default()
            .set_compatibility(CompatLevel::BestEffort)
            .handle_access(AccessFs::from_all(TESTED_ABI))?
            .handle_access(AccessNet::from_all(TESTED_ABI))?
            .scope(Scope::from_all(TESTED_ABI))?
            .create()?;
        let all = AccessFs::from_all(TESTED_ABI);
        let read = AccessFs::ReadFile | AccessFs::ReadDir;
        let exec = AccessFs::ReadFile | AccessFs::Execute;
        let rules: [(&[PathBuf], BitFlags<AccessFs>); 3] = [
            (&allowed.read_write, all & !AccessFs::Execute),
            (&allowed.read, read),
            (&allowed.execute, exec),
        ];
        for (paths, access) in rules {
            for path in paths {
                // A path that vanished (an optional library folder) is simply not allowed.
                let Ok(fd) = PathFd::new(path) else { continue };
                // Files take only file rights; the kernel refuses ReadDir on a file.
                let access = if path.is_dir() {
                    access
                } else {
                    access & !AccessFs::ReadDir & AccessFs::from_file(TESTED_ABI)
                };
                ruleset = ruleset.add_rule(PathBeneath::new(fd, access))?;
            }
        }
        // No net rule: every TCP bind and connect is refused (ABI 4+).
        Ok(Sandbox {
            ruleset: Option::<OwnedFd>::from(ruleset),
            seccomp,
            status: SandboxStatus::Sandboxed {
                landlock_abi: u8::try_from(abi).unwrap_or(u8::MAX),
                network_blocked,
            },
        })
    }

    /// What this sandbox achieves here.
    pub fn status(&self) -> &SandboxStatus {
        &self.status
    }

    /// A copy of what the child needs, to move into a `pre_exec` closure.
    pub fn for_child(&self) -> std::io::Result<ChildSandbox> {
        Ok(ChildSandbox {
            ruleset: self.ruleset.as_ref().map(OwnedFd::try_clone).transpose()?,
            seccomp: self.seccomp.clone(),
        })
    }
}

/// The sandbox's parts owned by one child start.
pub struct ChildSandbox {
    ruleset: Option<OwnedFd>,
    seccomp: Option<seccompiler::BpfProgram>,
}

impl ChildSandbox {
    /// Confines the calling process. Call in the forked child right before `exec` (from
    /// `CommandExt::pre_exec`). Only system calls happen here (prctl, landlock_restrict_self,
    /// seccomp): no allocation, so it is safe after a fork of a multi-threaded process.
    pub fn apply_in_child(&self) -> std::io::Result<()> {
        // SAFETY: plain system calls with integer arguments.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if let Some(fd) = &self.ruleset {
            // SAFETY: `fd` is a Landlock ruleset fd owned by `self`; flags 0.
            let rc = unsafe { libc::syscall(libc::SYS_landlock_restrict_self, fd.as_raw_fd(), 0) };
            if rc != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        if let Some(program) = &self.seccomp {
            seccompiler::apply_filter(program).map_err(std::io::Error::other)?;
        }
        Ok(())
    }
}

/// The kernel's Landlock ABI version, 0 without Landlock.
pub fn kernel_landlock_abi() -> i64 {
    // SAFETY: LANDLOCK_CREATE_RULESET_VERSION with a null attribute only returns a number.
    let abi = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            1u32, // LANDLOCK_CREATE_RULESET_VERSION
        )
    };
    abi.max(0)
}

/// A seccomp program that makes `socket()` and `io_uring_setup()` fail with `EACCES`; None on
/// a CPU seccompiler does not know.
fn network_filter() -> Result<Option<seccompiler::BpfProgram>, seccompiler::BackendError> {
    let Ok(arch) = seccompiler::TargetArch::try_from(std::env::consts::ARCH) else {
        return Ok(None);
    };
    // An empty rule list matches every call of that system call.
    let rules = [libc::SYS_socket, libc::SYS_io_uring_setup]
        .into_iter()
        .map(|call| (call, Vec::new()))
        .collect();
    let filter = seccompiler::SeccompFilter::new(
        rules,
        seccompiler::SeccompAction::Allow,
        seccompiler::SeccompAction::Errno(libc::EACCES as u32),
        arch,
    )?;
    Ok(Some(seccompiler::BpfProgram::try_from(filter)?))
}

/// What the interpreter program needs to start, found from the file itself: the program
/// (and the programs its `#!` line names, recursively) to execute, each ELF file's loader
/// to execute, the system's library folders and the loader's cache to read, and for a
/// Python-packaged interpreter (a `#!` naming `python…`) the Python installation's prefix
/// and the virtual environment holding the script, to read.
pub fn interpreter_needs(interpreter: &Path) -> Allowed {
    let mut allowed = Allowed::default();
    let mut next = Some(interpreter.to_path_buf());
    let mut depth = 0;
    while let Some(program) = next.take() {
        depth += 1;
        let real = std::fs::canonicalize(&program).unwrap_or(program.clone());
        push_unique(&mut allowed.execute, real.clone());
        let head = read_head(&real);
        if let Some(loader) = elf_interpreter(&real, &head) {
            push_unique(
                &mut allowed.execute,
                std::fs::canonicalize(&loader).unwrap_or(loader),
            );
        } else if let Some(named) = shebang_program(&head) {
            if depth < 4 {
                if is_python(&named) {
                    add_python_folders(&mut allowed, &program, &named);
                }
                next = Some(named);
            }
        }
    }
    for dir in LIBRARY_DIRS.iter().chain(LOADER_FILES.iter()) {
        let path = Path::new(dir);
        if path.exists() {
            push_unique(
                &mut allowed.read,
                std::fs::canonicalize(path).unwrap_or(path.to_path_buf()),
            );
        }
    }
    allowed
}

fn push_unique(list: &mut Vec<PathBuf>, path: PathBuf) {
    if !list.contains(&path) {
        list.push(path);
    }
}

fn is_python(program: &Path) -> bool {
    program
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("python"))
}

/// A venv script `VENV/bin/micropython` whose `#!` names `VENV/bin/python3` (a symlink to
/// `PREFIX/bin/python3.X`): read VENV and PREFIX (stdlib, libpython, site-packages).
fn add_python_folders(allowed: &mut Allowed, script: &Path, python: &Path) {
    for start in [script, python] {
        // The venv: a parent holding pyvenv.cfg.
        if let Some(venv) = start
            .ancestors()
            .skip(1)
            .take(3)
            .find(|dir| dir.join("pyvenv.cfg").is_file())
        {
            push_unique(
                &mut allowed.read,
                std::fs::canonicalize(venv).unwrap_or(venv.to_path_buf()),
            );
        }
    }
    // The installation: PREFIX/bin/pythonX.Y → PREFIX.
    if let Ok(real) = std::fs::canonicalize(python) {
        if let Some(prefix) = real.parent().and_then(Path::parent) {
            push_unique(&mut allowed.read, prefix.to_path_buf());
        }
    }
}

/// The first 4 KiB of a file (enough for an ELF header's program headers or a `#!` line).
fn read_head(path: &Path) -> Vec<u8> {
    use std::io::Read;
    let mut head = Vec::new();
    if let Ok(file) = std::fs::File::open(path) {
        let _ = file.take(4096).read_to_end(&mut head);
    }
    head
}

/// The program a `#!` line names.
fn shebang_program(head: &[u8]) -> Option<PathBuf> {
    let rest = head.strip_prefix(b"#!")?;
    let line = rest.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?.trim();
    let program = line.split_whitespace().next()?;
    Some(PathBuf::from(program))
}

/// The ELF loader (`PT_INTERP`) of an ELF file, 32- or 64-bit, little- or big-endian.
fn elf_interpreter(path: &Path, head: &[u8]) -> Option<PathBuf> {
    if head.get(..4)? != b"\x7fELF" {
        return None;
    }
    let wide = *head.get(4)? == 2;
    let little = *head.get(5)? == 1;
    let num = |at: usize, len: usize| -> Option<u64> {
        let bytes = head.get(at..at + len)?;
        let mut value = 0u64;
        for i in 0..len {
            let b = if little { bytes[len - 1 - i] } else { bytes[i] };
            value = value << 8 | u64::from(b);
        }
        Some(value)
    };
    let (phoff, phentsize, phnum) = if wide {
        (num(0x20, 8)?, num(0x36, 2)?, num(0x38, 2)?)
    } else {
        (num(0x1C, 4)?, num(0x2A, 2)?, num(0x2C, 2)?)
    };
    // Read only the program headers and the loader's name, not the whole (large) file.
    let read_at = |offset: u64, len: usize| -> Option<Vec<u8>> {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = std::fs::File::open(path).ok()?;
        file.seek(SeekFrom::Start(offset)).ok()?;
        let mut buf = vec![0; len];
        file.read_exact(&mut buf).ok()?;
        Some(buf)
    };
    let table_len = usize::try_from(phnum * phentsize).ok()?;
    if table_len > 64 * 1024 {
        return None;
    }
    let table = read_at(phoff, table_len)?;
    let field = |at: usize, len: usize| -> Option<u64> {
        let bytes = table.get(at..at + len)?;
        let mut value = 0u64;
        for i in 0..len {
            let b = if little { bytes[len - 1 - i] } else { bytes[i] };
            value = value << 8 | u64::from(b);
        }
        Some(value)
    };
    for i in 0..phnum {
        let at = usize::try_from(i * phentsize).ok()?;
        const PT_INTERP: u64 = 3;
        if field(at, 4)? != PT_INTERP {
            continue;
        }
        let (offset, size) = if wide {
            (field(at + 8, 8)?, field(at + 32, 8)?)
        } else {
            (field(at + 4, 4)?, field(at + 16, 4)?)
        };
        if size > 4096 {
            return None;
        }
        let bytes = read_at(offset, usize::try_from(size).ok()?)?;
        let text = bytes.split(|&b| b == 0).next()?;
        return Some(PathBuf::from(std::str::from_utf8(text).ok()?));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shebang_line_names_its_program() {
        assert_eq!(
            shebang_program(b"#!/venv/bin/python3 -u\nimport x\n"),
            Some(PathBuf::from("/venv/bin/python3"))
        );
        assert_eq!(shebang_program(b"\x7fELF"), None);
    }

    #[test]
    fn an_elf_program_names_its_loader() {
        // This test binary is itself a dynamically linked ELF file.
        let exe = std::env::current_exe().expect("exe");
        let loader = elf_interpreter(&exe, &read_head(&exe)).expect("PT_INTERP");
        assert!(loader.is_absolute(), "{}", loader.display());
        assert!(loader.exists(), "{}", loader.display());
    }

    #[test]
    fn the_python_packaged_interpreter_needs_python_and_its_venv() {
        let Ok(interpreter) = crate::board::find_interpreter() else {
            eprintln!("skipping: no MicroPython interpreter");
            return;
        };
        let allowed = interpreter_needs(&interpreter);
        let real = std::fs::canonicalize(&interpreter).expect("canonical");
        assert!(allowed.execute.contains(&real), "{allowed:?}");
        // The ELF at the end of the chain brings its loader.
        assert!(
            allowed.execute.len() >= 2,
            "the program and at least the ELF loader: {allowed:?}"
        );
        assert!(allowed.read_write.is_empty());
    }
}
