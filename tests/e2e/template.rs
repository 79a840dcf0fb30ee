//! The template passes cfn-lint and `sam validate --lint` (offline, from the pinned venv).

use std::path::PathBuf;
use std::process::Command;

#[test]
fn template_passes_cfn_lint_and_sam_validate() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let venv = std::env::var("SWITCHYARD_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join(".venv"));
    let out = Command::new("bash")
        .arg(root.join("infra/validate-template.sh"))
        .env("VENV", &venv)
        .current_dir(&root)
        .output()
        .expect("run infra/validate-template.sh");
    assert!(
        out.status.success(),
        "template validation failed (run `make tools` first if the venv is missing):\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
