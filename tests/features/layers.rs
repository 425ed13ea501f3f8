//! The module graph points down only: each top-level module of `src/` may
//! refer (through `crate::`) to modules in lower layers, never to one in its
//! own layer or above. A shared item that two modules need belongs in a
//! lower one. Test code (`tests.rs` files and `#[cfg(test)]` modules) is
//! not part of the graph.
//!
//! A second rule cuts across the layers: the stack's files
//! (`stackfiles`), the observers and the SLO judges never refer to the
//! running stack (`stack`: processes, containers, launchers), and
//! `validate` uses it only to choose and run the config checkers.

use std::collections::BTreeMap;
use std::path::Path;

/// Bottom to top. A module may use any module in an earlier row.
const LAYERS: &[&[&str]] = &[
    &[
        "input",
        "signal",
        "secret",
        "contract",
        "trace_context",
        "names",
    ],
    &["http"],
    &["scenario"],
    &["mock", "stackfiles"],
    &["stack", "load"],
    &["fault", "observe"],
    &["slo"],
    &["report"],
    &["run"],
    &["gameday"],
    &["cli"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|row| row.contains(&module))
}

/// The source without `#[cfg(test)] mod … { … }` blocks and comments.
fn code_only(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        match (after.find('{'), after.find(';')) {
            (Some(open), semi) if semi.is_none_or(|s| open < s) => {
                let mut depth = 0;
                let mut end = after.len();
                for (j, c) in after[open..].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = open + j + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                rest = &after[end..];
            }
            _ => {
                out.push_str("#[cfg(test)]");
                rest = &after["#[cfg(test)]".len()..];
            }
        }
    }
    out.push_str(rest);
    out.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn references(dir: &Path, module: &str, found: &mut BTreeMap<String, Vec<String>>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            references(&path, module, found);
        } else {
            scan_file(&path, module, found);
        }
    }
}

fn scan_file(path: &Path, module: &str, found: &mut BTreeMap<String, Vec<String>>) {
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    if !name.ends_with(".rs") || name == "tests.rs" {
        return;
    }
    let text = code_only(&std::fs::read_to_string(path).unwrap());
    for (i, _) in text.match_indices("crate::") {
        let target: String = text[i + 7..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if target != module && !target.is_empty() {
            found
                .entry(target)
                .or_default()
                .push(path.display().to_string());
        }
    }
}

fn top_level_modules(src: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        if name == "lib" || name == "main" {
            continue;
        }
        if path.is_dir() || path.extension().is_some_and(|e| e == "rs") {
            out.push(name);
        }
    }
    out.sort();
    out
}

#[test]
fn top_level_modules_refer_only_to_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut problems = Vec::new();
    for module in top_level_modules(&src) {
        let Some(layer) = layer_of(&module) else {
            problems.push(format!(
                "src/{module} is in no layer: add it to LAYERS in tests/layers.rs"
            ));
            continue;
        };
        let dir = src.join(&module);
        let mut found = BTreeMap::new();
        if dir.is_dir() {
            references(&dir, &module, &mut found);
        } else {
            scan_file(&src.join(format!("{module}.rs")), &module, &mut found);
        }
        for (target, files) in found {
            match layer_of(&target) {
                Some(t) if t < layer => {}
                _ => problems.push(format!(
                    "{module} (layer {layer}) refers to {target} (layer {:?}) in {}",
                    layer_of(&target),
                    files[0]
                )),
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_check_sees_a_reference_upward() {
    // The same scan on a made-up file: a reference to a higher layer is
    // found, one in a test module and one in a comment are not.
    let text =
        "use crate::report::x; // crate::cli\n#[cfg(test)]\nmod tests { use crate::run::y; }\n";
    let code = code_only(text);
    assert!(code.contains("crate::report"));
    assert!(!code.contains("crate::cli"));
    assert!(!code.contains("crate::run"));
}

/// Every `crate::stack::…` path (the runtime) in a module's code.
fn runtime_paths(path: &Path, out: &mut Vec<String>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            runtime_paths(&entry.unwrap().path(), out);
        }
        return;
    }
    if path.extension().is_none_or(|e| e != "rs") || path.ends_with("tests.rs") {
        return;
    }
    let text = code_only(&std::fs::read_to_string(path).unwrap());
    for (i, _) in text.match_indices("crate::stack::") {
        let tail: String = text[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        out.push(format!("{}: {tail}", path.display()));
    }
}

#[test]
fn the_stack_files_observers_and_judges_never_reach_the_running_stack() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    for pure in ["stackfiles", "observe", "slo"] {
        runtime_paths(&src.join(pure), &mut found);
    }
    assert!(
        found.is_empty(),
        "these refer to the running stack:\n{}",
        found.join("\n")
    );
    let mut validate = Vec::new();
    runtime_paths(&src.join("cli/validate.rs"), &mut validate);
    let allowed = ["crate::stack::binaries::", "crate::stack::tools::"];
    let other: Vec<&String> = validate
        .iter()
        .filter(|p| !allowed.iter().any(|a| p.contains(a)))
        .collect();
    assert!(
        other.is_empty(),
        "validate starts nothing, so it uses the runtime only for binaries and tools: {other:?}"
    );
    assert!(
        !validate.is_empty(),
        "the scan found validate's use of stack::tools; if it moved, move this check with it"
    );
}

#[test]
fn the_runtime_scan_sees_a_reference() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("x.rs");
    std::fs::write(
        &f,
        "use crate::stack::process::free_port;\n// crate::stack::docker\n",
    )
    .unwrap();
    let mut found = Vec::new();
    runtime_paths(&f, &mut found);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].ends_with("crate::stack::process::free_port"));
}
