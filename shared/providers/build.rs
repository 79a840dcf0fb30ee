//! Compiles every provider definition beside this file (and every sample under `samples/`)
//! into the library, so adding a provider is adding its files:
//! `$OUT_DIR/providers.rs` and `$OUT_DIR/samples.rs` list `(file name, text)` pairs.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    // Read at run time, not baked in with env!(): a target directory shared between checkouts
    // (CI keeps one outside the clone) must not send this script to another checkout's files.
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = Path::new(&manifest_dir);
    embed(dir, "yaml", "providers.rs");
    embed(&dir.join("samples"), "json", "samples.rs");
}

/// Writes `$OUT_DIR/<out>`: the `(file name, text)` of every `*.<extension>` file in `dir`.
fn embed(dir: &Path, extension: &str, out_name: &str) {
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("the directory exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == extension))
        .collect();
    files.sort();
    let mut out = String::from("&[\n");
    for path in files {
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
    let target = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join(out_name);
    std::fs::write(target, out).expect("write providers.rs");
}
