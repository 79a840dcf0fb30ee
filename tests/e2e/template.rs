//! The template passes cfn-lint and `sam validate --lint` (offline, from the pinned venv), and
//! its generated regions match the definitions (`infra/gen_template.py --check`).

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn venv() -> PathBuf {
    std::env::var("SWITCHYARD_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join(".venv"))
}

#[test]
fn template_passes_cfn_lint_and_sam_validate() {
    let root = root();
    let out = Command::new("bash")
        .arg(root.join("infra/validate-template.sh"))
        .env("VENV", venv())
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

/// Webhook functions, their log groups and URL outputs, and tool functions are generated from
/// `shared/providers/*.yaml` and `shared/integrations/*.json`: a new provider or method without
/// `make template` fails here.
#[test]
fn template_is_generated_from_the_definitions() {
    let root = root();
    let out = Command::new(venv().join("bin/python"))
        .arg(root.join("infra/gen_template.py"))
        .arg("--check")
        .current_dir(&root)
        .output()
        .expect(
            "run infra/gen_template.py --check (run `make tools` first if the venv is missing)",
        );
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
}
