//! The repo's own maps match the tree: the "Repository layout" table of
//! `docs/development.md` and `docs/architecture.md` name only paths that
//! exist, and name every top-level folder, every test file, every script,
//! every top-level module of `src/` and every stack component; the
//! README's map of `docs/` names every page there and no other, and the
//! README stays a user's page of 300 lines or fewer. A file added, moved
//! or removed without its map fails here.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Names in a directory, folders with a trailing `/`, hidden ones left out.
fn entries(rel: &str) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(root().join(rel))
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
        .map(|e| e.unwrap())
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if e.path().is_dir() {
                format!("{name}/")
            } else {
                name
            }
        })
        .collect();
    out.sort();
    out
}

/// The text of each backticked span.
fn code_spans(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// The layout table of `docs/development.md`: (first cell, whole row).
fn layout_rows() -> Vec<(String, String)> {
    let page = read("docs/development.md");
    let start = page
        .find("## Repository layout")
        .expect("docs/development.md has a Repository layout section");
    let section = &page[start..];
    let end = section[3..].find("\n## ").map_or(section.len(), |i| i + 3);
    section[..end]
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let first = l.split('|').nth(1).unwrap_or("").trim().to_string();
            (first, l.to_string())
        })
        .collect()
}

fn row(path: &str) -> String {
    layout_rows()
        .into_iter()
        .find(|(first, _)| code_spans(first).contains(&path))
        .map(|(_, r)| r)
        .unwrap_or_else(|| panic!("the layout table has no row for `{path}`"))
}

#[test]
fn the_layout_table_has_a_row_for_every_top_level_folder_and_only_those_that_exist() {
    let rows = layout_rows();
    let named: Vec<&str> = rows.iter().flat_map(|(f, _)| code_spans(f)).collect();
    for e in entries(".") {
        let listed = e.ends_with('/') || ["Dockerfile", "Cargo.toml"].contains(&e.as_str());
        if listed && e != "target/" {
            assert!(named.contains(&e.as_str()), "no layout row names `{e}`");
        }
    }
    for n in named {
        assert!(
            root().join(n).exists(),
            "the layout table names `{n}`, which is not in the repo"
        );
    }
}

#[test]
fn the_tests_row_names_every_test_file_and_no_other() {
    let r = row("tests/");
    let named: Vec<&str> = code_spans(&r)
        .into_iter()
        .filter(|s| s.ends_with(".rs"))
        .collect();
    // The test binaries are folders with a `main.rs` (one module a
    // subject); their module files are named as `folder/module.rs`.
    let mut files: Vec<String> = Vec::new();
    for e in entries("tests") {
        if e.ends_with(".rs") {
            files.push(e.clone());
        } else if e.ends_with('/') && root().join("tests").join(&e).join("main.rs").is_file() {
            files.extend(
                entries(&format!("tests/{e}"))
                    .into_iter()
                    .filter(|f| f.ends_with(".rs") && f != "main.rs")
                    .map(|f| format!("{e}{f}")),
            );
        }
    }
    for f in &files {
        assert!(
            named.contains(&f.as_str()),
            "the tests/ row does not name {f}"
        );
    }
    for e in entries("tests").iter().filter(|e| e.ends_with('/')) {
        assert!(
            r.contains(&format!("`{e}`")),
            "the tests/ row does not name {e}"
        );
    }
    for n in named {
        assert!(
            root().join("tests").join(n).is_file(),
            "the tests/ row names {n}, which is not there"
        );
    }
}

#[test]
fn the_scripts_row_names_every_script() {
    let r = row("scripts/");
    for e in entries("scripts") {
        assert!(
            r.contains(&format!("`{e}`")),
            "the scripts/ row does not name {e}"
        );
    }
}

#[test]
fn the_src_row_names_every_top_level_module() {
    let r = row("src/");
    for e in entries("src") {
        if ["lib.rs", "main.rs"].contains(&e.as_str()) {
            continue;
        }
        assert!(
            r.contains(&format!("`{e}`")),
            "the src/ row does not name {e}"
        );
    }
}

/// Every file and folder under `dir`, as paths relative to the repo.
fn tree(dir: &Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap().map(|e| e.unwrap()) {
        let path = e.path();
        let rel = path
            .strip_prefix(root())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if path.is_dir() {
            out.push(format!("{rel}/"));
            tree(&path, out);
        } else {
            out.push(rel);
        }
    }
}

#[test]
fn architecture_names_only_paths_that_exist_and_every_component() {
    let doc = read("docs/architecture.md");
    let mut all = Vec::new();
    for d in ["src", "tests", "scripts", "tools", "stack"] {
        tree(&root().join(d), &mut all);
    }
    for span in code_spans(&doc) {
        let looks_like_path = span.contains('/')
            && !span.contains(' ')
            && !span.starts_with("../")
            && (span.ends_with(".rs") || span.ends_with('/') || span.ends_with(".sh"));
        if looks_like_path {
            let found = all
                .iter()
                .any(|p| p == span || p.ends_with(&format!("/{span}")));
            assert!(
                found,
                "docs/architecture.md names `{span}`, which is not in the tree"
            );
        }
    }
    for e in entries("src/stack/components") {
        assert!(
            doc.contains(&format!("`stack/components/{e}`")),
            "docs/architecture.md does not name stack/components/{e}"
        );
    }
}

#[test]
fn the_readmes_map_of_docs_names_every_page_and_no_other() {
    let readme = read("README.md");
    let linked: Vec<&str> = readme
        .split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .filter(|target| target.starts_with("docs/"))
        .collect();
    // Pages, that is: a folder of figures the pages show is not one.
    for page in entries("docs").into_iter().filter(|e| !e.ends_with('/')) {
        assert!(
            linked.contains(&format!("docs/{page}").as_str()),
            "the README does not link docs/{page}"
        );
    }
    for target in linked {
        assert!(
            root().join(target).is_file(),
            "the README links {target}, which is not there"
        );
    }
}

#[test]
fn the_readme_is_a_users_page() {
    let readme = read("README.md");
    let lines = readme.lines().count();
    assert!(
        lines <= 300,
        "the README has {lines} lines; move detail into docs/"
    );
    // Development figures live in docs/development.md, dated, not here.
    for figure in [" tests, 0 failed", "tests passed", "test command took"] {
        assert!(
            !readme.contains(figure),
            "the README carries a development figure ({figure:?}): it belongs in docs/development.md"
        );
    }
}
