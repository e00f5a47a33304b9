use super::*;

fn project(files: &[(&str, &str)]) -> Project {
    Project::from_files(
        "/p",
        files
            .iter()
            .map(|(path, text)| (path.to_string(), text.as_bytes().to_vec())),
    )
}

fn names(modules: &[ModuleFile]) -> Vec<(&str, Option<&str>)> {
    modules
        .iter()
        .map(|m| (m.name.as_str(), m.path.as_deref()))
        .collect()
}

#[test]
fn modules_are_found_in_the_root_before_lib_and_packages_before_files() {
    let p = project(&[
        ("helper.py", ""),
        ("lib/helper.py", ""),
        ("lib/ssd1306.py", ""),
        ("pkg/__init__.py", ""),
        ("pkg.py", ""),
        ("pkg/sub.py", ""),
        ("ns/deep/leaf.py", ""),
        ("lib/fast.mpy", ""),
    ]);
    let find = |name: &str| p.find_module(name).map(|m| (m.path, m.package_dir));
    assert_eq!(find("helper"), Some((Some("helper.py".into()), None)));
    assert_eq!(find("ssd1306"), Some((Some("lib/ssd1306.py".into()), None)));
    assert_eq!(
        find("pkg"),
        Some((Some("pkg/__init__.py".into()), Some("pkg".into())))
    );
    assert_eq!(find("pkg.sub"), Some((Some("pkg/sub.py".into()), None)));
    assert_eq!(find("ns"), Some((None, Some("ns".into()))));
    assert_eq!(
        find("ns.deep.leaf"),
        Some((Some("ns/deep/leaf.py".into()), None))
    );
    assert_eq!(find("fast"), Some((Some("lib/fast.mpy".into()), None)));
    assert!(!p.find_module("fast").is_some_and(|m| m.is_source()));
    assert_eq!(find("machine"), None);
    assert_eq!(find("helper.x"), None, "a module is not a package");
    assert_eq!(find("pkg.missing"), None);
    assert_eq!(find("../etc"), None);
}

#[test]
fn the_closure_follows_imports_through_modules_and_packages() {
    let p = project(&[
        ("main.py", "import sys\n"),
        ("helper.py", "from lib_user import x\nimport time\n"),
        ("lib/lib_user.py", "def x(): pass\n"),
        (
            "pkg/__init__.py",
            "from . import sub\nfrom .sub import VALUE\n",
        ),
        (
            "pkg/sub.py",
            "from .. import nothing\nfrom . import sibling\n",
        ),
        ("pkg/sibling.py", ""),
        ("pkg/other.py", ""),
        ("unused.py", ""),
    ]);
    let script = "import helper\ndef f():\n    from pkg import other\n    import machine\n";
    let closure = p.import_closure(script);
    assert_eq!(
        names(&closure),
        vec![
            ("helper", Some("helper.py")),
            ("pkg", Some("pkg/__init__.py")),
            ("pkg.other", Some("pkg/other.py")),
            ("lib_user", Some("lib/lib_user.py")),
            ("pkg.sub", Some("pkg/sub.py")),
            ("pkg.sibling", Some("pkg/sibling.py")),
        ]
    );
}

#[test]
fn import_cycles_end() {
    let p = project(&[("a.py", "import b\n"), ("b.py", "import a\n")]);
    assert_eq!(
        names(&p.import_closure("import a\n")),
        vec![("a", Some("a.py")), ("b", Some("b.py"))]
    );
}

#[test]
fn board_layouts_name_files_as_the_boards_import_does() {
    let p = project(&[
        ("main.py", ""),
        ("lib/ssd1306.py", ""),
        ("pkg/__init__.py", ""),
    ]);
    let pico = BoardLayout::from_sys_path(&["".into(), ".frozen".into(), "/lib".into()]);
    assert_eq!(pico.board_path("lib/ssd1306.py"), "/lib/ssd1306.py");
    assert_eq!(pico.board_path("pkg/__init__.py"), "pkg/__init__.py");
    assert_eq!(
        pico.project_path("/lib/ssd1306.py", &p).as_deref(),
        Some("lib/ssd1306.py")
    );
    assert_eq!(pico.project_path("main.py", &p).as_deref(), Some("main.py"));
    assert_eq!(
        pico.project_path("/main.py", &p).as_deref(),
        Some("main.py")
    );
    assert_eq!(pico.project_path(".frozen/asyncio/core.py", &p), None);
    let relative = BoardLayout::from_sys_path(&["".into(), "lib".into()]);
    assert_eq!(relative.board_path("lib/ssd1306.py"), "lib/ssd1306.py");
    assert_eq!(
        relative.project_path("lib/ssd1306.py", &p).as_deref(),
        Some("lib/ssd1306.py")
    );
    // A host's own library folders are never taken for the board's lib: without `/lib` or
    // `lib` on its path, a board keeps the project's lib/ in its current folder.
    let unix = BoardLayout::from_sys_path(&["".into(), "/root/.micropython/lib".into()]);
    assert_eq!(unix.lib_dir, "lib");
    assert_eq!(unix.board_path("lib/ssd1306.py"), "lib/ssd1306.py");
}

#[test]
fn scanning_takes_board_files_and_skips_the_rest() {
    let dir = tempfile::tempdir().expect("a temp folder");
    let root = dir.path();
    let write = |rel: &str, text: &str| {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    };
    write("main.py", "import helper\n");
    write("helper.py", "x = 1\n");
    write("lib/driver.py", "");
    write("config.json", "{}");
    write("README.md", "# docs");
    write(".git/config.txt", "");
    write("__pycache__/helper.py", "");
    write("venv/pyvenv.cfg", "");
    write("venv/lib/site.py", "");
    write("node_modules/x.js", "");
    let p = Project::scan(root).expect("scans");
    let files: Vec<&str> = p.files().map(|(path, _)| path).collect();
    assert_eq!(
        files,
        vec!["config.json", "helper.py", "lib/driver.py", "main.py"]
    );
    assert_eq!(p.file("helper.py"), Some(&b"x = 1\n"[..]));
    assert_eq!(
        p.relative(&root.join("lib/driver.py")).as_deref(),
        Some("lib/driver.py")
    );
    assert_eq!(p.relative(Path::new("/elsewhere/x.py")), None);
    assert!(matches!(
        Project::scan(&root.join("main.py")),
        Err(ProjectError::NotAFolder(_))
    ));
}
