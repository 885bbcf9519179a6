//! The library's layering, as `src/lib.rs` states it: every module imports only from layers below
//! its own (or from inside itself), the three tasks never import one another, and so there is no
//! import circle. Reads the sources as text; no GPU needed.

use std::path::{Path, PathBuf};

/// Each top-level module (and each task) with its layer, bottom to top — the list in `src/lib.rs`.
const LAYERS: &[(&str, usize)] = &[
    ("error", 0),
    ("fsutil", 1),
    ("config", 1),
    ("plot", 2),
    ("gpu", 2),
    ("graph", 3),
    ("kernels", 4),
    ("params", 5),
    ("data", 5),
    ("nn", 6),
    ("core", 7),
    ("tasks::classify", 8),
    ("tasks::lm", 8),
    ("tasks::forecast", 8),
    ("transfer", 9),
    ("experiment", 10),
    ("bench", 10),
];

/// The unit a file belongs to: its top-level module, or `tasks::NAME` under `src/tasks/`.
fn unit_of(relative: &Path) -> Option<String> {
    let parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string()).collect();
    match parts.as_slice() {
        [file] if file == "lib" || file == "main" => None,
        [first, ..] if first == "cli" => None,
        [first, second] if first == "tasks" && second == "mod" => None,
        [first, second, ..] if first == "tasks" => Some(format!("tasks::{second}")),
        [first, ..] => Some(first.clone()),
        [] => None,
    }
}

/// The units named by `crate::…` paths in a source text, comments and doc links skipped.
fn imported_units(source: &str) -> Vec<String> {
    let mut units = Vec::new();
    for line in source.lines().filter(|l| !l.trim_start().starts_with("//")) {
        for (i, _) in line.match_indices("crate::") {
            let rest = &line[i + "crate::".len()..];
            let first: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if first == "tasks" {
                let task: String =
                    rest["tasks::".len().min(rest.len())..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                units.push(format!("tasks::{task}"));
            } else if !first.is_empty() {
                // Items the crate root re-exports count as their modules'.
                let unit = match first.as_str() {
                    "Error" | "Result" => "error",
                    "GpuContext" | "AdapterChoice" => "gpu",
                    module => module,
                };
                units.push(unit.to_string());
            }
        }
    }
    units
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn layer(unit: &str) -> usize {
    LAYERS.iter().find(|(name, _)| *name == unit).unwrap_or_else(|| panic!("module `{unit}` is not in the layer list")).1
}

#[test]
fn every_module_imports_only_from_below() {
    let src = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src"));
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut violations = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(src).unwrap();
        let Some(unit) = unit_of(relative) else { continue };
        let own = layer(&unit);
        for imported in imported_units(&std::fs::read_to_string(file).unwrap()) {
            if imported != unit && layer(&imported) >= own {
                violations.push(format!("{} ({unit}, layer {own}) imports {imported} (layer {})", relative.display(), layer(&imported)));
            }
        }
    }
    assert!(violations.is_empty(), "imports that break the layering:\n  {}", violations.join("\n  "));
}

#[test]
fn the_check_sees_a_violation() {
    assert_eq!(
        imported_units("use crate::tasks::lm::LmInfo;\n// crate::experiment\nlet x = crate::gpu::View::whole(b); crate::Error::X"),
        ["tasks::lm", "gpu", "error"]
    );
    assert_eq!(unit_of(Path::new("tasks/forecast/train.rs")).as_deref(), Some("tasks::forecast"));
    assert_eq!(unit_of(Path::new("cli/train.rs")), None);
    assert!(layer("tasks::lm") > layer("core") && layer("core") > layer("gpu"));
}

#[test]
fn lib_rs_lists_every_module() {
    let lib = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/lib.rs")).unwrap();
    for line in lib.lines().filter_map(|l| l.strip_prefix("pub mod ")) {
        let module = line.trim_end_matches(';');
        if module != "tasks" {
            layer(module);
        }
    }
}
