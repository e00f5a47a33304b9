//! Files on the board's own filesystem, over the raw REPL (as `mpremote fs` does): the board's
//! `sys.path`, which files differ from the host's copies (a SHA-256 computed on the board,
//! like `mpremote cp` and MicroPico's upload), and writing files.
//!
//! Each operation runs in a dictionary of its own (`exec(code, {...})`, one expression
//! statement): it leaves no name in the user's namespace. Neither interns a new string on the
//! board (their names are MicroPython's own, their data long strings split at run time), so
//! what they leave is garbage and a fresh board stays fresh: writing the user's files does
//! not cost the simulated Pico a restart.
//!
//! Must not know: projects, runs, heaps.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use super::{Board, LinkError};

/// The most raw bytes one exec carries (its literal is up to four times longer): a small
/// heap compiles it easily.
pub const WRITE_CHUNK_BYTES: usize = 2048;
/// Suffix of the temporary name a file bigger than one chunk is written under, then renamed.
const PART_SUFFIX: &str = ".heaplens-part";

/// Prints one digit per file of `data` (`path size sha256hex` lines): `0` the board's file is
/// the same, `1` it is missing or differs, `2` a folder stands there. Without `hashlib`, every
/// file of the right size counts as differing.
const CHECK_CODE: &str = "import os
try:
    from hashlib import sha256
    from binascii import hexlify
except ImportError:
    sha256 = None
buf = bytearray(256)
value = memoryview(buf)
values = bytearray()
for line in data.split('\\n'):
    path, length, digest = line.rsplit(' ', 2)
    try:
        stat = os.stat(path)
    except OSError:
        values.append(49)
        continue
    if stat[0] & 0x4000:
        values.append(50)
    elif stat[6] != int(length) or sha256 is None:
        values.append(49)
    else:
        hash = sha256()
        file = open(path, 'rb')
        while True:
            n = file.readinto(buf)
            if not n:
                break
            hash.update(value[:n])
        file.close()
        values.append(48 if hexlify(hash.digest()).decode() == digest else 49)
print(values.decode())
";

/// Carries out the lines of `value`, `MODE START END PATH` each: `mkdir` makes folder PATH;
/// `wb` / `ab` write (or append) the bytes `data[START:END]` to PATH; `rename` moves PATH
/// (a temporary name) over the name it stands for (PATH without its suffix). The rename is
/// made inside PATH's folder: the unix port's `VfsPosix` mounted at `/` (the simulated Pico's
/// flash) cannot rename absolute paths (ENOENT), a Pico's filesystems can; names within the
/// current folder work on both.
const WRITE_CODE: &str = "import os
for line in value.split('\\n'):
    mode, start, end, path = line.split(' ', 3)
    if mode == 'mkdir':
        try:
            os.mkdir(path)
        except OSError:
            pass
    elif mode == 'rename':
        here = os.getcwd()
        cut = path.rfind('/')
        if cut >= 0:
            os.chdir(path[:cut] or '/')
        path = path[cut + 1:]
        try:
            try:
                os.remove(path[:-PART])
            except OSError:
                pass
            os.rename(path, path[:-PART])
        finally:
            os.chdir(here)
    else:
        file = open(path, mode)
        file.write(memoryview(data)[int(start):int(end)])
        file.close()
";

/// A file as the board should hold it.
#[derive(Debug, Clone, Copy)]
pub struct BoardFile<'a> {
    /// The board's path: relative to its current folder, or absolute (`/lib/x.py`).
    pub path: &'a str,
    pub bytes: &'a [u8],
}

/// How the board's copy of a file compares with the host's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileState {
    Same,
    /// Missing or different: it needs writing.
    Differs,
    /// A folder has the file's name: it cannot be written.
    Folder,
}

/// The SHA-256 of `bytes`, lowercase hex (what `hexlify(hashlib.sha256(…).digest())` gives).
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `bytes` as a MicroPython bytes literal (printable ASCII as is, the rest escaped).
fn bytes_literal(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 3);
    out.push_str("b'");
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\'' => out.push_str("\\'"),
            b'\n' => out.push_str("\\n"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('\'');
    out
}

/// `text` as a MicroPython string literal: quotes, backslashes and every control character
/// escaped (a raw `\x04` would end a raw-paste transfer), other text as it is (UTF-8).
pub fn python_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 16 + 2);
    out.push('\'');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\x7f' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

impl Board {
    /// The board's `sys.path`, asked once per connection (as JSON: the query's names and
    /// strings are all MicroPython's own, so it interns nothing on the board). Empty when the
    /// board cannot say (no `json` module).
    pub fn sys_path(&mut self) -> Result<Vec<String>, LinkError> {
        if let Some(known) = &self.sys_path {
            return Ok(known.clone());
        }
        let outcome = self.exec_query("print(__import__('json').dumps(__import__('sys').path))")?;
        let text = String::from_utf8_lossy(&outcome.stdout);
        let path: Vec<String> = match outcome.traceback {
            Some(_) => Vec::new(),
            None => serde_json::from_str(text.trim()).map_err(|_| LinkError::Protocol {
                port: self.info.port.clone(),
                context: "reading sys.path",
                got: text.chars().take(80).collect(),
            })?,
        };
        self.sys_path = Some(path.clone());
        Ok(path)
    }

    /// How the board's copy of each file compares with `files` (one exec for them all).
    pub fn compare_files(&mut self, files: &[BoardFile<'_>]) -> Result<Vec<FileState>, LinkError> {
        if files.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(paths) = self.local_paths(files) {
            return Ok(paths
                .iter()
                .zip(files)
                .map(|(path, f)| local_state(path, f.bytes))
                .collect());
        }
        let data: Vec<String> = files
            .iter()
            .map(|f| format!("{} {} {}", f.path, f.bytes.len(), sha256_hex(f.bytes)))
            .collect();
        let code = format!(
            "exec({}, {{'data': {}}})",
            python_string(CHECK_CODE),
            python_string(&data.join("\n"))
        );
        let outcome = self.exec_query(&code)?;
        if let Some(traceback) = outcome.traceback {
            return Err(LinkError::raised(
                "comparing the project's files",
                traceback,
            ));
        }
        let text = String::from_utf8_lossy(&outcome.stdout);
        let digits = text.trim();
        if digits.len() != files.len() {
            return Err(LinkError::Protocol {
                port: self.info.port.clone(),
                context: "comparing the project's files",
                got: digits.chars().take(80).collect(),
            });
        }
        Ok(digits
            .bytes()
            .map(|d| match d {
                b'0' => FileState::Same,
                b'2' => FileState::Folder,
                _ => FileState::Differs,
            })
            .collect())
    }

    /// Writes `files` (their folders made first), a few kilobytes per exec; a file bigger
    /// than [`WRITE_CHUNK_BYTES`] goes to a temporary name and is renamed when complete, so
    /// a broken link never leaves a truncated file under the real name.
    pub fn write_files(&mut self, files: &[BoardFile<'_>]) -> Result<(), LinkError> {
        if let Some(paths) = self.local_paths(files) {
            return paths
                .iter()
                .zip(files)
                .try_for_each(|(path, f)| write_local(path, f.bytes))
                .map_err(|e| LinkError::Simulator(format!("writing the project's files: {e}")));
        }
        let mut batch = WriteBatch::default();
        let mut folders: Vec<&str> = Vec::new();
        for file in files {
            let mut at = 0;
            while let Some(i) = file.path[at..].find('/') {
                let folder = &file.path[..at + i];
                at += i + 1;
                if !folder.is_empty() && !folders.contains(&folder) {
                    folders.push(folder);
                    batch.step("mkdir", &[], folder);
                }
            }
        }
        for file in files {
            if file.bytes.len() <= WRITE_CHUNK_BYTES {
                if batch.data.len() + file.bytes.len() > WRITE_CHUNK_BYTES {
                    self.flush(&mut batch)?;
                }
                batch.step("wb", file.bytes, file.path);
                continue;
            }
            let part = format!("{}{PART_SUFFIX}", file.path);
            for (i, chunk) in file.bytes.chunks(WRITE_CHUNK_BYTES).enumerate() {
                if batch.data.len() + chunk.len() > WRITE_CHUNK_BYTES {
                    self.flush(&mut batch)?;
                }
                batch.step(if i == 0 { "wb" } else { "ab" }, chunk, &part);
            }
            batch.step("rename", &[], &part);
        }
        self.flush(&mut batch)
    }

    /// Puts `bytes` in a file of the simulated Pico's flash, for code that reads it (and
    /// removes it) at once; returns the file's board path. None on any other board, or on
    /// one not just reset: there the text goes through the raw REPL as usual. Large code
    /// (the harness and the script: kilobytes) is read from a file in microseconds where
    /// the raw REPL's 128-byte windows take a round trip each.
    pub fn stage(&mut self, name: &str, bytes: &[u8]) -> Option<String> {
        let file = BoardFile { path: name, bytes };
        let paths = self.local_paths(std::slice::from_ref(&file))?;
        write_local(paths.first()?, file.bytes).ok()?;
        Some(format!("/{}", name.trim_start_matches('/')))
    }

    /// Removes a file [`Board::stage`] made, if the code meant to read it did not.
    pub fn unstage(&mut self, board_path: &str) {
        if let Some(path) = self
            .connector
            .simulator()
            .and_then(|sim| local_path(sim.flash_dir(), board_path))
        {
            let _ = std::fs::remove_file(path);
        }
    }

    /// Where each of `files` is in the simulated Pico's flash folder, when they can be
    /// handled there directly: the board was just started (its current folder is still `/`,
    /// the flash's root) and every path is a plain one inside it. Its files are then the
    /// host's own: comparing and writing them needs no exec (two round trips and the
    /// checker's code through the raw REPL's 128-byte windows). Any other board, or any
    /// doubt, takes the raw REPL.
    fn local_paths(&self, files: &[BoardFile<'_>]) -> Option<Vec<std::path::PathBuf>> {
        if !self.is_fresh() {
            return None;
        }
        let flash = self.connector.simulator()?.flash_dir();
        files.iter().map(|f| local_path(flash, f.path)).collect()
    }

    fn flush(&mut self, batch: &mut WriteBatch) -> Result<(), LinkError> {
        if batch.steps.is_empty() {
            return Ok(());
        }
        let code = format!(
            "exec({}, {{'data': {}, 'value': {}}})",
            python_string(&WRITE_CODE.replace("PART", &PART_SUFFIX.len().to_string())),
            bytes_literal(&batch.data),
            python_string(&batch.steps.join("\n"))
        );
        *batch = WriteBatch::default();
        let outcome = self.exec_query(&code)?;
        match outcome.traceback {
            None => Ok(()),
            Some(traceback) => Err(LinkError::raised("writing the project's files", traceback)),
        }
    }
}

/// Where board path `path` (relative to `/`, or absolute) is in the flash folder `flash`;
/// None for anything but plain names (`..`, `.`, empty parts).
fn local_path(flash: &std::path::Path, path: &str) -> Option<std::path::PathBuf> {
    let mut local = flash.to_path_buf();
    for part in path.strip_prefix('/').unwrap_or(path).split('/') {
        if part.is_empty() || part == "." || part == ".." || part.contains('\0') {
            return None;
        }
        local.push(part);
    }
    Some(local)
}

/// What the board would say about its file at `path` (see `CHECK_CODE`) given the host's
/// `bytes`, read from the flash folder.
fn local_state(path: &std::path::Path, bytes: &[u8]) -> FileState {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => FileState::Folder,
        Ok(meta) if meta.is_file() && meta.len() == bytes.len() as u64 => {
            match std::fs::read(path) {
                Ok(held) if held == bytes => FileState::Same,
                _ => FileState::Differs,
            }
        }
        _ => FileState::Differs,
    }
}

/// Writes `bytes` to `path` in the flash folder, its folders first (what `WRITE_CODE` does).
fn write_local(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder)?;
    }
    std::fs::write(path, bytes)
}

/// Steps waiting for one exec: `MODE START END PATH` lines over one block of bytes.
#[derive(Default)]
struct WriteBatch {
    steps: Vec<String>,
    data: Vec<u8>,
}

impl WriteBatch {
    fn step(&mut self, mode: &str, bytes: &[u8], path: &str) {
        let start = self.data.len();
        self.data.extend_from_slice(bytes);
        self.steps
            .push(format!("{mode} {start} {} {path}", self.data.len()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_lowercase_hex_sha256() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn bytes_literals_escape_everything_but_printable_ascii() {
        assert_eq!(
            bytes_literal(b"a'b\\c\n\r\x03\x04\xe9"),
            "b'a\\'b\\\\c\\n\\x0d\\x03\\x04\\xe9'"
        );
    }
}
