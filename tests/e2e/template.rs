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

/// Every function reads exactly the resource variables its binary needs
/// (`switchyard::config::needs`), set in its own template entry, and none comes from Globals:
/// a function is configured with, and so can be granted, only what it uses.
#[test]
fn every_function_is_given_exactly_the_resources_its_binary_needs() {
    use switchyard::config::{needs, Need};
    let text = std::fs::read_to_string(root().join("template.yaml")).expect("template.yaml");
    let template: serde_yaml::Value = serde_yaml::from_str(&text).expect("template parses");
    let resource_vars: Vec<&str> = Need::ALL.iter().map(|n| n.var()).collect();
    let globals = &template["Globals"]["Function"]["Environment"]["Variables"];
    for var in &resource_vars {
        assert!(
            globals.get(*var).is_none(),
            "{var} is in Globals: every function would get it"
        );
    }
    let resources = template["Resources"].as_mapping().expect("Resources");
    let mut checked = 0;
    for (id, resource) in resources {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let id = id.as_str().unwrap_or_default();
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{id} names no binary"));
        let wanted: Vec<&str> = needs::of_binary(binary)
            .unwrap_or_else(|| panic!("{id}: binary {binary} has no needs list"))
            .iter()
            .map(|n| n.var())
            .collect();
        let vars = &resource["Properties"]["Environment"]["Variables"];
        let mut given: Vec<&str> = resource_vars
            .iter()
            .copied()
            .filter(|v| vars.get(*v).is_some())
            .collect();
        let mut wanted_sorted = wanted.clone();
        given.sort_unstable();
        wanted_sorted.sort_unstable();
        assert_eq!(given, wanted_sorted, "{id} ({binary})");
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} functions");
}
