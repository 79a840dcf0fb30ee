//! Each Lambda links only what it uses. The function binaries depend on the library crates they
//! call, never on the operator tooling (`switchyard-ops`: CLI, local host, template reader), the
//! `switchyard` crate that gathers everything for it, a YAML parser, an HTTP server framework or
//! a command-line parser; and the crates under them depend only downwards (core ← aws ← ingest,
//! oauth ← tools), so the cycles of the old single library cannot come back.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// The normal (non-dev, non-build) dependencies of `package`, by crate name.
fn dependencies(package: &str) -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(cargo)
        .args(["tree", "--offline", "--locked", "-e", "normal"])
        .args(["--prefix", "none", "--format", "{p}", "-p", package])
        .current_dir(root)
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != package)
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_lambdas_link_no_operator_tooling_yaml_server_or_cli_parser() {
    let deps = dependencies("switchyard-functions");
    for forbidden in ["switchyard", "switchyard-ops", "serde_yaml", "axum", "clap"] {
        assert!(
            !deps.contains(forbidden),
            "the function binaries depend on {forbidden}"
        );
    }
    for needed in [
        "switchyard-ingest",
        "switchyard-oauth",
        "switchyard-tools",
        "switchyard-google",
    ] {
        assert!(deps.contains(needed), "{needed} missing: {deps:?}");
    }
}

#[test]
fn the_library_crates_depend_only_downwards() {
    let below = |package: &str| {
        dependencies(package)
            .into_iter()
            .filter(|d| d.starts_with("switchyard"))
            .collect::<BTreeSet<_>>()
    };
    let set = |names: &[&str]| {
        names
            .iter()
            .map(|n| (*n).to_owned())
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(below("switchyard-core"), set(&[]));
    assert_eq!(below("switchyard-egress"), set(&["switchyard-core"]));
    assert_eq!(
        below("switchyard-aws"),
        set(&["switchyard-core", "switchyard-providers"])
    );
    assert_eq!(
        below("switchyard-ingest"),
        set(&["switchyard-aws", "switchyard-core", "switchyard-providers"])
    );
    // The webhook path compiles no HTTP client and no tool or OAuth code.
    let ingest = dependencies("switchyard-ingest");
    for forbidden in [
        "reqwest",
        "jsonschema",
        "switchyard-oauth",
        "switchyard-tools",
    ] {
        assert!(!ingest.contains(forbidden), "ingest depends on {forbidden}");
    }
    assert!(!below("switchyard-oauth").contains("switchyard-tools"));
    // Google sync sits on tools (its calls are worker calls); nothing below knows it, and the
    // Google fake is test and local-host tooling only.
    assert_eq!(
        below("switchyard-google"),
        set(&[
            "switchyard-aws",
            "switchyard-core",
            "switchyard-egress",
            "switchyard-ingest",
            "switchyard-oauth",
            "switchyard-providers",
            "switchyard-tools",
        ])
    );
    for lower in ["switchyard-tools", "switchyard-oauth", "switchyard-ingest"] {
        assert!(!below(lower).contains("switchyard-google"), "{lower}");
    }
    assert!(!dependencies("switchyard-functions").contains("switchyard-google-fake"));
}
