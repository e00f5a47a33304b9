//! The import statements of a MicroPython source, read with tree-sitter-python, and the rule
//! MicroPython uses to turn a relative import into an absolute module name.
//!
//! Must not know: where modules live (see [`super::Project::find_module`]), boards, runs.

use tree_sitter::{Node, Parser};

/// One module an import statement names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRef {
    /// Leading dots of a relative import (`from ..a import b`: 2); 0 for an absolute one.
    pub level: u32,
    /// The dotted module name after the dots (`""` for `from . import x`).
    pub module: String,
    /// For `from M import a, b`: `a` and `b` (each may be a submodule of `M`); empty for
    /// `import M` and `from M import *`.
    pub names: Vec<String>,
}

/// Every import statement of `source`, in text order, wherever it sits (inside functions,
/// `try` blocks, conditionals): a static over-approximation of what a run may import.
/// `from __future__` imports are left out. A source that does not parse gives the imports of
/// the parts tree-sitter could read.
pub fn import_refs(source: &str) -> Vec<ImportRef> {
    let mut parser = Parser::new();
    if parser
        .set_language(&tree_sitter_python::LANGUAGE.into())
        .is_err()
    {
        return Vec::new();
    }
    let Some(tree) = parser.parse(source, None) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut stack = vec![tree.root_node()];
    while let Some(node) = stack.pop() {
        match node.kind() {
            "import_statement" => import_statement(node, source, &mut out),
            "import_from_statement" => import_from_statement(node, source, &mut out),
            _ => {
                let mut cursor = node.walk();
                let children: Vec<Node<'_>> = node.named_children(&mut cursor).collect();
                // Reversed, so that the stack pops them in text order.
                stack.extend(children.into_iter().rev());
            }
        }
    }
    out
}

fn text<'s>(node: Node<'_>, source: &'s str) -> &'s str {
    source.get(node.start_byte()..node.end_byte()).unwrap_or("")
}

/// A `dotted_name` as MicroPython reads it (spaces around the dots removed).
fn dotted(node: Node<'_>, source: &str) -> String {
    text(node, source)
        .split('.')
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(".")
}

/// The dotted name of a `name` field: itself, or the name of an `aliased_import`.
fn imported_name(node: Node<'_>, source: &str) -> Option<String> {
    match node.kind() {
        "dotted_name" => Some(dotted(node, source)),
        "aliased_import" => node
            .child_by_field_name("name")
            .map(|name| dotted(name, source)),
        _ => None,
    }
}

fn import_statement(node: Node<'_>, source: &str, out: &mut Vec<ImportRef>) {
    let mut cursor = node.walk();
    for name in node.children_by_field_name("name", &mut cursor) {
        if let Some(module) = imported_name(name, source) {
            out.push(ImportRef {
                level: 0,
                module,
                names: Vec::new(),
            });
        }
    }
}

fn import_from_statement(node: Node<'_>, source: &str, out: &mut Vec<ImportRef>) {
    let Some(module_node) = node.child_by_field_name("module_name") else {
        return;
    };
    let (level, module) = match module_node.kind() {
        "dotted_name" => (0, dotted(module_node, source)),
        "relative_import" => {
            let mut level = 0;
            let mut module = String::new();
            let mut cursor = module_node.walk();
            for child in module_node.named_children(&mut cursor) {
                match child.kind() {
                    "import_prefix" => {
                        level = u32::try_from(text(child, source).matches('.').count())
                            .unwrap_or(u32::MAX);
                    }
                    "dotted_name" => module = dotted(child, source),
                    _ => {}
                }
            }
            (level, module)
        }
        _ => return,
    };
    let mut cursor = node.walk();
    let names = node
        .children_by_field_name("name", &mut cursor)
        .filter_map(|name| imported_name(name, source))
        .collect();
    out.push(ImportRef {
        level,
        module,
        names,
    });
}

/// The absolute module name of a relative import, by MicroPython's rule
/// (`py/builtinimport.c`, `evaluate_relative_import`): from the importing module's name, drop
/// `level` trailing components (one fewer when the importer is a package), then append
/// `module`. `None` where MicroPython raises "can't perform relative import" (say from the
/// main script, `__main__`).
pub fn absolute_name(
    level: u32,
    module: &str,
    importer: &str,
    importer_is_package: bool,
) -> Option<String> {
    if level == 0 {
        return Some(module.to_string());
    }
    let mut base = importer;
    let mut level = if importer_is_package {
        level - 1
    } else {
        level
    };
    while level > 0 {
        base = &base[..base.rfind('.')?];
        level -= 1;
    }
    if base.is_empty() {
        return None;
    }
    Some(if module.is_empty() {
        base.to_string()
    } else {
        format!("{base}.{module}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(source: &str) -> Vec<(u32, String, Vec<String>)> {
        import_refs(source)
            .into_iter()
            .map(|r| (r.level, r.module, r.names))
            .collect()
    }

    fn owned(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn every_form_of_import_is_read_in_text_order() {
        let source = "\
import a, b.c as d
from e.f import g, h as i
from . import j
from ..k import *
from __future__ import annotations
def f():
    try:
        import l
    except ImportError:
        from m import (n,
            o)
";
        assert_eq!(
            refs(source),
            vec![
                (0, "a".into(), vec![]),
                (0, "b.c".into(), vec![]),
                (0, "e.f".into(), owned(&["g", "h"])),
                (1, "".into(), owned(&["j"])),
                (2, "k".into(), vec![]),
                (0, "l".into(), vec![]),
                (0, "m".into(), owned(&["n", "o"])),
            ]
        );
    }

    #[test]
    fn a_source_that_does_not_parse_still_gives_its_readable_imports() {
        let found = refs("import a\ndef f(:\n    pass\nimport b\n");
        assert!(found.contains(&(0, "a".into(), vec![])), "{found:?}");
    }

    #[test]
    fn relative_names_follow_micropython() {
        // A module: `.` is its package.
        assert_eq!(
            absolute_name(1, "x", "pkg.mod", false).as_deref(),
            Some("pkg.x")
        );
        assert_eq!(
            absolute_name(1, "", "pkg.mod", false).as_deref(),
            Some("pkg")
        );
        // A package: `.` is itself.
        assert_eq!(absolute_name(1, "x", "pkg", true).as_deref(), Some("pkg.x"));
        assert_eq!(
            absolute_name(2, "x", "pkg.sub", true).as_deref(),
            Some("pkg.x")
        );
        // Beyond the top, and from the main script: MicroPython raises.
        assert_eq!(absolute_name(2, "x", "pkg.mod", false), None);
        assert_eq!(absolute_name(1, "x", "__main__", false), None);
        assert_eq!(
            absolute_name(0, "a.b", "__main__", false).as_deref(),
            Some("a.b")
        );
    }
}
