//! Every shader family parses and validates with naga (prelude included). No GPU needed.

use lstm_transfer::gpu::SHADER_FAMILIES;

#[test]
fn every_shader_parses_and_validates() {
    for family in SHADER_FAMILIES {
        let module = family.validate().unwrap_or_else(|e| panic!("{e}"));
        assert!(!module.entry_points.is_empty(), "{} has no entry point", family.file_name());
        // Each family's file starts with a header comment naming itself, its bindings and grid.
        let source = family.source();
        let body = source.split_once(&format!("// {}", family.file_name())).map(|(_, b)| b);
        let body = body.unwrap_or_else(|| panic!("{} lacks its header comment", family.file_name()));
        assert!(body.contains("Bindings") || body.contains("bindings"), "{} header names no bindings", family.file_name());
        assert!(body.contains("Grid") || body.contains("grid"), "{} header names no dispatch grid", family.file_name());
    }
}

#[test]
fn every_wgsl_file_is_registered() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/shaders");
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name == "prelude.wgsl" {
            continue;
        }
        assert!(SHADER_FAMILIES.iter().any(|f| f.file_name() == name), "shaders/{name} is not in SHADER_FAMILIES");
    }
}
