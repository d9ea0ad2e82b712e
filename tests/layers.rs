//! The layer picture in docs/ARCHITECTURE.md is the import graph: every module of `src/` is in
//! it exactly once, and each imports (`crate::…`, outside comments and unit tests) only modules
//! drawn on lower lines.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Column where a picture line's description starts; module names sit before it.
const NAMES_END: usize = 38;

/// The picture's lines, top first: the module names on each.
fn picture() -> Vec<Vec<String>> {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/ARCHITECTURE.md")).unwrap();
    let start = doc.find("## The layers").expect("ARCHITECTURE.md has a section \"## The layers\"");
    let block = &doc[start..];
    let open = block.find("```text\n").expect("the layers section has a ```text picture") + 8;
    let close = open + block[open..].find("```").unwrap();
    let mut lines = Vec::new();
    for line in block[open..close].lines() {
        let chars: Vec<char> = line.chars().collect();
        let head: String = chars[..chars.len().min(NAMES_END)].iter().collect();
        let names: Vec<String> = head
            .split_whitespace()
            .filter(|w| w.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
            .map(str::to_string)
            .collect();
        if !names.is_empty() {
            lines.push(names);
        }
    }
    lines
}

/// The top-level modules of the crate, from src/lib.rs.
fn modules() -> BTreeSet<String> {
    let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    lib.lines().filter_map(|l| l.strip_prefix("pub mod ")).map(|m| m.trim_end_matches(';').to_string()).collect()
}

/// The code of a file without comment lines and without its `#[cfg(test)] mod tests`.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(k) => &text[..k],
        None => text,
    };
    text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

/// The first identifier of `s`.
fn ident(s: &str) -> String {
    s.trim_start().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect()
}

/// The crate modules `code` refers to: `crate::m…` and each item of `crate::{a, b::c, …}`.
fn imports(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(k) = rest.find("crate::") {
        rest = &rest[k + 7..];
        if let Some(group) = rest.strip_prefix('{') {
            let (mut depth, mut item) = (0, String::new());
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.insert(ident(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            out.insert(ident(&item));
        } else {
            out.insert(ident(rest));
        }
    }
    out.remove("");
    out
}

/// Every module's imports of other crate modules.
fn graph(modules: &BTreeSet<String>) -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let rel = path.strip_prefix(&src).unwrap();
            let top = rel.components().next().unwrap().as_os_str().to_str().unwrap().trim_end_matches(".rs");
            if !modules.contains(top) {
                continue;
            }
            let used = imports(&code(&std::fs::read_to_string(&path).unwrap()));
            let deps = graph.entry(top.to_string()).or_default();
            deps.extend(used.into_iter().filter(|m| m != top && modules.contains(m)));
        }
    }
    graph
}

#[test]
fn the_parser_reads_imports_and_groups() {
    let found = imports("use crate::a::b;\nuse crate::{c, d::{e, f}, g as h};\nlet x = crate::i::j();");
    let want: BTreeSet<String> = ["a", "c", "d", "g", "i"].iter().map(|s| s.to_string()).collect();
    assert_eq!(found, want);
    assert_eq!(code("use crate::a;\n// crate::b\n#[cfg(test)]\nmod tests {\n use crate::c;\n}"), "use crate::a;");
}

#[test]
fn every_module_is_drawn_once() {
    let drawn: Vec<String> = picture().into_iter().flatten().collect();
    let set: BTreeSet<String> = drawn.iter().cloned().collect();
    assert_eq!(drawn.len(), set.len(), "a module is drawn twice in the layer picture: {drawn:?}");
    let modules = modules();
    let missing: Vec<_> = modules.difference(&set).collect();
    let extra: Vec<_> = set.difference(&modules).collect();
    assert!(missing.is_empty(), "modules missing from the layer picture: {missing:?}");
    assert!(extra.is_empty(), "the layer picture names modules src/lib.rs does not have: {extra:?}");
}

#[test]
fn every_import_goes_down_the_picture() {
    let modules = modules();
    let line: BTreeMap<String, usize> =
        picture().into_iter().enumerate().flat_map(|(k, names)| names.into_iter().map(move |m| (m, k))).collect();
    let mut wrong = Vec::new();
    for (module, deps) in graph(&modules) {
        for dep in deps {
            if let (Some(a), Some(b)) = (line.get(&module), line.get(&dep))
                && a >= b
            {
                wrong.push(format!("{module} (line {a}) imports {dep} (line {b})"));
            }
        }
    }
    assert!(wrong.is_empty(), "imports that go up or sideways in the layer picture: {wrong:#?}");
}
