//! A MicroPython project on the host: the folder whose files belong on the board, and where
//! an import finds a project module, as a Pico's `sys.path` (`''`, then `/lib`) would.
//!
//! [`Project::scan`] reads the folder once; everything else works on the files it read (so
//! the module rules are tested from in-memory fixtures, and a run sees one consistent
//! version of every file).
//!
//! Must not know: boards and the raw REPL, runs, LSP.

pub mod imports;

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use thiserror::Error;

use imports::{absolute_name, import_refs};

/// The kinds of file that belong on the board: MicroPython code and the data files scripts
/// commonly read (the list MicroPico syncs by default, without `log`: a log is the board's
/// output, not the project's input).
pub const BOARD_FILE_EXTENSIONS: [&str; 9] = [
    "py", "mpy", "json", "txt", "csv", "xml", "html", "css", "js",
];
/// Folders never taken: caches and tool folders, not board code.
const SKIPPED_FOLDERS: [&str; 2] = ["__pycache__", "node_modules"];
/// More files than this is not a MicroPython project (a Pico's whole flash holds 1.4 MB).
pub const MAX_FILES: usize = 1000;
/// A file bigger than this is left out (with a warning).
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// All files together.
pub const MAX_TOTAL_BYTES: u64 = 16 * 1024 * 1024;
/// Folders deeper than this are not walked.
const MAX_DEPTH: usize = 16;

/// Why a project folder could not be read.
#[derive(Debug, Error)]
pub enum ProjectError {
    #[error("the project folder {0} does not exist or is not a folder")]
    NotAFolder(PathBuf),
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the project folder {root} holds more than {MAX_FILES} board files: is it really a \
         MicroPython project? Choose its folder with --project (or open that folder)"
    )]
    TooManyFiles { root: PathBuf },
    #[error(
        "the project folder {root} holds more than {} MB of board files: choose the project's \
         own folder with --project (or open that folder)",
        MAX_TOTAL_BYTES / (1024 * 1024)
    )]
    TooBig { root: PathBuf },
}

/// A project: its root folder and the board files under it (paths relative to the root,
/// `/`-separated), read at one moment.
#[derive(Debug, Clone)]
pub struct Project {
    root: PathBuf,
    files: BTreeMap<String, Arc<[u8]>>,
    /// Files left out, each with why (too big).
    skipped: Vec<String>,
}

/// Where a module's code lives in the project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleFile {
    /// The dotted module name (`pkg.sub`).
    pub name: String,
    /// The file holding its code (`pkg/sub.py`, `lib/pkg/__init__.py`); `None` for a
    /// package folder without `__init__.py` (a namespace package: no code).
    pub path: Option<String>,
    /// For a package, its folder (`pkg`, `lib/pkg`): where its submodules are found.
    pub package_dir: Option<String>,
}

impl ModuleFile {
    /// Whether the code is Python source (not a precompiled `.mpy`), so it can be measured.
    pub fn is_source(&self) -> bool {
        self.path.as_deref().is_some_and(|p| p.ends_with(".py"))
    }
}

impl Project {
    /// Reads the board files under `root` (see [`BOARD_FILE_EXTENSIONS`]): hidden entries,
    /// `__pycache__`, `node_modules` and virtual environments (a folder with `pyvenv.cfg`)
    /// are skipped; symbolic links to files are followed, to folders not.
    pub fn scan(root: &Path) -> Result<Project, ProjectError> {
        if !root.is_dir() {
            return Err(ProjectError::NotAFolder(root.to_path_buf()));
        }
        let mut project = Project {
            root: root.to_path_buf(),
            files: BTreeMap::new(),
            skipped: Vec::new(),
        };
        let mut total: u64 = 0;
        let mut folders = vec![(root.to_path_buf(), String::new(), 0usize)];
        while let Some((folder, prefix, depth)) = folders.pop() {
            let io = |source| ProjectError::Io {
                path: folder.clone(),
                source,
            };
            let mut entries: Vec<std::fs::DirEntry> = std::fs::read_dir(&folder)
                .map_err(io)?
                .collect::<Result<_, _>>()
                .map_err(io)?;
            entries.sort_by_key(std::fs::DirEntry::file_name);
            for entry in entries {
                let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                    continue;
                };
                if name.starts_with('.') {
                    continue;
                }
                let path = entry.path();
                let rel = format!("{prefix}{name}");
                let kind = entry.file_type().map_err(|source| ProjectError::Io {
                    path: path.clone(),
                    source,
                })?;
                if kind.is_dir() {
                    if depth < MAX_DEPTH
                        && !SKIPPED_FOLDERS.contains(&name.as_str())
                        && !path.join("pyvenv.cfg").exists()
                    {
                        folders.push((path, format!("{rel}/"), depth + 1));
                    }
                    continue;
                }
                let wanted = Path::new(&name)
                    .extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| BOARD_FILE_EXTENSIONS.contains(&e));
                // A link to a folder is not followed (it could loop); `is_file` follows links.
                if !wanted || !path.is_file() {
                    continue;
                }
                let size = std::fs::metadata(&path)
                    .map_err(|source| ProjectError::Io {
                        path: path.clone(),
                        source,
                    })?
                    .len();
                if size > MAX_FILE_BYTES {
                    project.skipped.push(format!(
                        "{rel} is left out: {size} bytes, more than the {MAX_FILE_BYTES} \
                         HeapLens copies"
                    ));
                    continue;
                }
                if project.files.len() >= MAX_FILES {
                    return Err(ProjectError::TooManyFiles {
                        root: root.to_path_buf(),
                    });
                }
                let bytes = std::fs::read(&path).map_err(|source| ProjectError::Io {
                    path: path.clone(),
                    source,
                })?;
                total += bytes.len() as u64;
                if total > MAX_TOTAL_BYTES {
                    return Err(ProjectError::TooBig {
                        root: root.to_path_buf(),
                    });
                }
                project.files.insert(rel, bytes.into());
            }
        }
        Ok(project)
    }

    /// A project made of the given files (tests, and callers that already hold them).
    pub fn from_files(
        root: impl Into<PathBuf>,
        files: impl IntoIterator<Item = (String, Vec<u8>)>,
    ) -> Project {
        Project {
            root: root.into(),
            files: files
                .into_iter()
                .map(|(path, bytes)| (path, bytes.into()))
                .collect(),
            skipped: Vec::new(),
        }
    }

    /// The same project with `path` holding `bytes` (an editor's text of a file, the script
    /// as given): the run uses exactly what it measures.
    pub fn with_file(mut self, path: &str, bytes: Vec<u8>) -> Project {
        self.files.insert(path.to_string(), bytes.into());
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every board file, by relative path, sorted.
    pub fn files(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.files
            .iter()
            .map(|(path, bytes)| (path.as_str(), &**bytes))
    }

    /// How many board files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The bytes of the file at the relative `path`.
    pub fn file(&self, path: &str) -> Option<&[u8]> {
        self.files.get(path).map(|bytes| &**bytes)
    }

    /// Files the scan left out, each with why.
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// `path` (a host path) relative to the root, `/`-separated; `None` outside the root.
    pub fn relative(&self, path: &Path) -> Option<String> {
        let rel = path.strip_prefix(&self.root).ok()?;
        let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
        let joined = parts?.join("/");
        (!joined.is_empty()).then_some(joined)
    }

    /// Whether some board file lies under the folder `dir` (relative).
    fn is_folder(&self, dir: &str) -> bool {
        let prefix = format!("{dir}/");
        self.files
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(path, _)| path.starts_with(&prefix))
    }

    /// The module whose path without extension is `stem` (`lib/pkg`), as MicroPython's
    /// `stat_module` looks: a folder first (a package), then `.py`, then `.mpy`.
    fn module_at(&self, stem: &str, name: &str) -> Option<ModuleFile> {
        if self.is_folder(stem) {
            let init = format!("{stem}/__init__.py");
            let init_mpy = format!("{stem}/__init__.mpy");
            let path = [init, init_mpy]
                .into_iter()
                .find(|p| self.files.contains_key(p));
            return Some(ModuleFile {
                name: name.to_string(),
                path,
                package_dir: Some(stem.to_string()),
            });
        }
        [format!("{stem}.py"), format!("{stem}.mpy")]
            .into_iter()
            .find(|p| self.files.contains_key(p))
            .map(|path| ModuleFile {
                name: name.to_string(),
                path: Some(path),
                package_dir: None,
            })
    }

    /// Where `import NAME` finds project module `name` (dotted): a top-level name in the
    /// root, else in `lib/` (a Pico's `sys.path` is `''`, `.frozen`, `/lib`; frozen modules
    /// are not part of a project); a submodule in its package's folder. `None` when the
    /// project has no such module (a built-in, or a module already on the board).
    pub fn find_module(&self, name: &str) -> Option<ModuleFile> {
        let mut parts = name.split('.');
        let first = parts.next().filter(|p| is_identifier(p))?;
        let mut module = ["", "lib/"]
            .iter()
            .find_map(|base| self.module_at(&format!("{base}{first}"), first))?;
        let mut full = first.to_string();
        for part in parts {
            if !is_identifier(part) {
                return None;
            }
            let dir = module.package_dir.clone()?;
            full.push('.');
            full.push_str(part);
            module = self.module_at(&format!("{dir}/{part}"), &full)?;
        }
        Some(module)
    }

    /// The project modules a run of `script` may import, transitively, in the order they
    /// are first named (a package before its submodules): read from the import statements
    /// of the script and of each module found, wherever they sit. A name computed at run
    /// time (`__import__(name)`) cannot be seen.
    pub fn import_closure(&self, script: &str) -> Vec<ModuleFile> {
        let mut found: Vec<ModuleFile> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        // (source, the importer's name, whether the importer is a package)
        let mut queue: VecDeque<(Arc<str>, String, bool)> = VecDeque::new();
        queue.push_back((Arc::from(script), "__main__".to_string(), false));
        while let Some((source, importer, is_package)) = queue.pop_front() {
            for import in import_refs(&source) {
                let Some(base) = absolute_name(import.level, &import.module, &importer, is_package)
                else {
                    continue;
                };
                let mut targets = prefixes(&base);
                targets.extend(import.names.iter().map(|n| format!("{base}.{n}")));
                for target in targets {
                    if seen.contains(&target) {
                        continue;
                    }
                    let Some(module) = self.find_module(&target) else {
                        continue;
                    };
                    seen.insert(target);
                    if module.is_source() {
                        if let Some(text) = module
                            .path
                            .as_deref()
                            .and_then(|p| self.file(p))
                            .and_then(|bytes| std::str::from_utf8(bytes).ok())
                        {
                            queue.push_back((
                                Arc::from(text),
                                module.name.clone(),
                                module.package_dir.is_some(),
                            ));
                        }
                    }
                    found.push(module);
                }
            }
        }
        found
    }
}

/// `a`, `a.b`, `a.b.c` for `a.b.c`.
fn prefixes(name: &str) -> Vec<String> {
    name.match_indices('.')
        .map(|(i, _)| name[..i].to_string())
        .chain(std::iter::once(name.to_string()))
        .filter(|p| !p.is_empty())
        .collect()
}

fn is_identifier(part: &str) -> bool {
    let mut chars = part.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
}

/// Where a board keeps a project's files and how it names them: the project's root is the
/// board's current folder (`''` on `sys.path`; `/` on a Pico), its `lib/` the board's lib
/// folder (`/lib` on a Pico). File names are what MicroPython's import gives a module's code
/// (`helper.py`, `pkg/__init__.py`, `/lib/ssd1306.py`): tracebacks show them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardLayout {
    /// The board's lib folder as `sys.path` spells it (`/lib`, or `lib`).
    pub lib_dir: String,
}

impl Default for BoardLayout {
    /// A Pico's: `/lib`.
    fn default() -> Self {
        BoardLayout {
            lib_dir: "/lib".to_string(),
        }
    }
}

impl BoardLayout {
    /// The layout of a board whose `sys.path` is `sys_path`: its lib folder is the entry
    /// `/lib` or `lib`. A board with neither (the bare unix port, whose `/lib` is the host's)
    /// gets the project's `lib/` in its current folder, next to the rest of the project:
    /// nothing is ever written outside it.
    pub fn from_sys_path(sys_path: &[String]) -> BoardLayout {
        let lib_dir = sys_path
            .iter()
            .find(|entry| *entry == "/lib" || *entry == "lib")
            .cloned()
            .unwrap_or_else(|| "lib".to_string());
        BoardLayout { lib_dir }
    }

    /// The board's name for the project file `path` (relative to the project root).
    pub fn board_path(&self, path: &str) -> String {
        match path.strip_prefix("lib/") {
            Some(rest) => format!("{}/{rest}", self.lib_dir),
            None => path.to_string(),
        }
    }

    /// The project file a board file name (a traceback's) stands for, if the project has it.
    pub fn project_path(&self, board_name: &str, project: &Project) -> Option<String> {
        let lib = format!("{}/", self.lib_dir);
        let candidate = match board_name.strip_prefix(&lib) {
            Some(rest) => format!("lib/{rest}"),
            None => board_name
                .trim_start_matches("./")
                .trim_start_matches('/')
                .to_string(),
        };
        project.file(&candidate).map(|_| candidate)
    }
}

#[cfg(test)]
mod tests;
