//! Compiles every provider definition beside this file (and every sample under `samples/`)
//! into the library, so adding a provider is adding its files:
//! `$OUT_DIR/providers.rs` lists `(file name, definition as JSON)` pairs and
//! `$OUT_DIR/samples.rs` `(file name, text)` pairs. The YAML is read here, at build time: a
//! definition that is not YAML fails the build, and no Lambda links a YAML parser or spends
//! its cold start on one.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    // Read at run time, not baked in with env!(): a target directory shared between checkouts
    // (CI keeps one outside the clone) must not send this script to another checkout's files.
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = Path::new(&manifest_dir);
    embed_definitions(dir);
    embed(&dir.join("samples"), "json", "samples.rs");
}

/// Writes `$OUT_DIR/providers.rs`: the `(file name, JSON)` of every `*.yaml` file in `dir`.
fn embed_definitions(dir: &Path) {
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut out = String::from("&[\n");
    for path in files(dir, "yaml") {
        println!("cargo:rerun-if-changed={}", path.display());
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let text = std::fs::read_to_string(&path).expect("a readable definition");
        let value: serde_json::Value = serde_yaml::from_str(&text)
            .unwrap_or_else(|e| panic!("{name}: not a YAML provider definition: {e}"));
        let _ = writeln!(out, "    ({name:?}, {:?}),", value.to_string());
    }
    out.push(']');
    write_out("providers.rs", &out);
}

/// The `*.<extension>` files in `dir`, sorted.
fn files(dir: &Path, extension: &str) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("the directory exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == extension))
        .collect();
    files.sort();
    files
}

fn write_out(name: &str, text: &str) {
    let target = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join(name);
    std::fs::write(target, text).expect("write the generated list");
}

/// Writes `$OUT_DIR/<out>`: the `(file name, text)` of every `*.<extension>` file in `dir`.
fn embed(dir: &Path, extension: &str, out_name: &str) {
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut out = String::from("&[\n");
    for path in files(dir, extension) {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        println!("cargo:rerun-if-changed={}", path.display());
        let _ = writeln!(
            out,
            "    ({name:?}, include_str!({:?})),",
            path.display().to_string()
        );
    }
    out.push(']');
    write_out(out_name, &out);
}
