//! What a run measures: the script and the project modules it may import (the static import
//! closure, [`Project::import_closure`]), each instrumented with its share of the run's probe
//! slots (the script's first, then each module's, in the order found), and what the harness
//! needs to load those modules with their probes (see [`super::harness`], "Project
//! modules"). Pure: no board, no I/O.

use std::sync::Arc;

use crate::project::{BoardLayout, Project};

use super::harness::{HarnessModule, Nonce};
use super::instrument::{instrument_from, normalize, InstrumentError, Instrumented};
use super::probes::SourceLine;

/// A project module the harness loads with probes.
#[derive(Debug, Clone)]
pub struct ModuleUnit {
    /// Its file relative to the project root (a namespace package: its folder).
    pub file: Arc<str>,
    /// What the board side needs.
    pub harness: HarnessModule,
    /// Its instrumented code (`None` for a namespace package, which has none).
    pub code: Option<Instrumented>,
}

/// A project module of the closure that runs without probes if imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Unmeasured {
    /// Its file relative to the project root.
    pub file: String,
    pub reason: String,
}

/// The instrumented script and modules of one run.
#[derive(Debug, Clone)]
pub struct ProbedPlan {
    pub script: Instrumented,
    /// In the harness's order (module `k` is `modules[k]`).
    pub modules: Vec<ModuleUnit>,
    /// Every probe slot's line (slot `i` measures `slots[i]`).
    pub slots: Vec<SourceLine>,
    /// Modules the board would import from its own copy, unmeasured.
    pub unmeasured: Vec<Unmeasured>,
}

impl ProbedPlan {
    /// The harness's table of modules.
    pub fn harness_modules(&self) -> Vec<HarnessModule> {
        self.modules.iter().map(|m| m.harness.clone()).collect()
    }

    /// The bytes the host sends when the harness asks for module `k`.
    pub fn module_code(&self, k: usize) -> Option<&[u8]> {
        self.modules
            .get(k)
            .and_then(|m| m.code.as_ref())
            .map(|code| code.code.as_bytes())
    }
}

/// Instruments `source` (already normalized) as the script `script_file`, then, with a
/// project, every module of its import closure that can be measured. Fails only when the
/// script itself cannot be instrumented (the caller then runs it plain).
pub fn probed_plan(
    source: &str,
    script_file: &Arc<str>,
    project: Option<&Project>,
    layout: &BoardLayout,
    nonce: &Nonce,
) -> Result<ProbedPlan, InstrumentError> {
    let script = instrument_from(source, nonce, 0)?;
    let mut slots: Vec<SourceLine> = script
        .probe_lines
        .iter()
        .map(|&line| SourceLine::new(script_file, line))
        .collect();
    let mut modules = Vec::new();
    let mut unmeasured = Vec::new();
    let Some(project) = project else {
        return Ok(ProbedPlan {
            script,
            modules,
            slots,
            unmeasured,
        });
    };
    for module in project.import_closure(source) {
        let package_dir = module.package_dir.as_deref().map(|d| layout.board_path(d));
        let Some(path) = module.path.clone() else {
            // A package folder without `__init__.py`: a module with a `__path__` and no code.
            modules.push(ModuleUnit {
                file: Arc::from(module.package_dir.as_deref().unwrap_or(&module.name)),
                harness: HarnessModule {
                    name: module.name.clone(),
                    file: None,
                    package_dir,
                    code_bytes: 0,
                },
                code: None,
            });
            continue;
        };
        let skip = |reason: &str| Unmeasured {
            file: path.clone(),
            reason: reason.to_string(),
        };
        if path == **script_file {
            unmeasured.push(skip("it is the script itself, which runs as `__main__`"));
            continue;
        }
        if !module.is_source() {
            unmeasured.push(skip("precompiled (.mpy): there is no source to measure"));
            continue;
        }
        let Some(text) = project
            .file(&path)
            .and_then(|bytes| std::str::from_utf8(bytes).ok())
        else {
            unmeasured.push(skip("not UTF-8 text"));
            continue;
        };
        let text = normalize(text);
        // Ctrl-C interrupts a board while it reads: such a module cannot be sent.
        if text.contains('\x03') {
            unmeasured.push(skip("it holds a Ctrl-C character (0x03), which would interrupt the board while the module is sent"));
            continue;
        }
        let code = match instrument_from(&text, nonce, slots.len()) {
            Ok(code) => code,
            Err(error) => {
                unmeasured.push(skip(&error.to_string()));
                continue;
            }
        };
        let file: Arc<str> = Arc::from(path.as_str());
        slots.extend(
            code.probe_lines
                .iter()
                .map(|&line| SourceLine::new(&file, line)),
        );
        modules.push(ModuleUnit {
            file,
            harness: HarnessModule {
                name: module.name.clone(),
                file: Some(layout.board_path(&path)),
                package_dir,
                code_bytes: code.code.len(),
            },
            code: Some(code),
        });
    }
    Ok(ProbedPlan {
        script,
        modules,
        slots,
        unmeasured,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(files: &[(&str, &str)]) -> Project {
        Project::from_files(
            "/p",
            files
                .iter()
                .map(|(path, text)| (path.to_string(), text.as_bytes().to_vec())),
        )
    }

    #[test]
    fn the_script_and_its_modules_share_the_slots_in_order() {
        let p = project(&[
            ("main.py", "import helper\nimport ns.leaf\nimport fast\n"),
            ("helper.py", "x = 1\ny = 2\n"),
            ("lib/ns/leaf.py", "z = 3\n"),
            ("lib/fast.mpy", ""),
            ("broken.py", "def f(:\n"),
        ]);
        let nonce = Nonce::from_hex("0123456789abcdef0123456789abcdef");
        let file: Arc<str> = Arc::from("main.py");
        let source = "import helper\nimport ns.leaf\nimport fast\nimport broken\n";
        let plan = probed_plan(source, &file, Some(&p), &BoardLayout::default(), &nonce)
            .expect("instruments");
        let slots: Vec<(&str, u32)> = plan.slots.iter().map(|s| (&*s.file, s.line)).collect();
        assert_eq!(
            slots,
            vec![
                ("main.py", 1),
                ("main.py", 2),
                ("main.py", 3),
                ("main.py", 4),
                ("helper.py", 1),
                ("helper.py", 2),
                ("lib/ns/leaf.py", 1),
            ]
        );
        let table: Vec<(&str, Option<&str>, Option<&str>)> = plan
            .modules
            .iter()
            .map(|m| {
                (
                    m.harness.name.as_str(),
                    m.harness.file.as_deref(),
                    m.harness.package_dir.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            table,
            vec![
                ("helper", Some("helper.py"), None),
                ("ns", None, Some("/lib/ns")),
                ("ns.leaf", Some("/lib/ns/leaf.py"), None),
            ]
        );
        assert_eq!(
            plan.module_code(0)
                .map(|c| String::from_utf8_lossy(c).into_owned()),
            Some("_hcdefS(4); x = 1\n_hcdefS(5); y = 2\n".to_string())
        );
        assert_eq!(
            plan.modules[0].harness.code_bytes,
            plan.module_code(0).map_or(0, <[u8]>::len)
        );
        let unmeasured: Vec<&str> = plan.unmeasured.iter().map(|u| u.file.as_str()).collect();
        assert_eq!(unmeasured, vec!["lib/fast.mpy", "broken.py"]);
    }
}
