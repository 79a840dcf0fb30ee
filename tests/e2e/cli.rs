//! The admin CLI against the emulator: instances, grants, listings; secrets never printed or
//! stored in plaintext.

use clap::Parser;
use switchyard_ops::cli::{run_with_app, run_with_io, Cli, Io};
use switchyard_ops::local::demo;

use crate::support::Stack;

/// Runs the CLI with `args` against the stack; its output, or the error's text.
pub(crate) async fn cli(stack: &Stack, args: &[&str]) -> Result<String, String> {
    let mut out = Vec::new();
    let parsed = Cli::try_parse_from(std::iter::once("switchyard").chain(args.iter().copied()))
        .map_err(|e| e.to_string())?;
    run_with_app(&stack.app, parsed, &mut out)
        .await
        .map_err(|e| e.to_string())?;
    Ok(String::from_utf8(out).expect("utf8"))
}

#[tokio::test]
async fn instance_lifecycle_never_shows_or_stores_the_secret() {
    let stack = Stack::new().await;
    let secret = "s3cr3t-signing-value-0123456789";
    let created = cli(
        &stack,
        &[
            "instance",
            "create",
            "--provider",
            "slack",
            "--id",
            "acme-slack",
            "--workspace",
            "acme",
            "--set",
            &format!("signing_secret={secret}"),
            "--set",
            "team_id=T1",
        ],
    )
    .await
    .expect("create");
    assert!(!created.contains(secret));
    assert!(
        created.contains("signing_secret"),
        "shows which keys are set: {created}"
    );

    let shown = cli(&stack, &["instance", "show", "--id", "acme-slack"])
        .await
        .expect("show");
    assert!(!shown.contains(secret));
    assert!(shown.contains("T1"));

    let granted = cli(
        &stack,
        &[
            "instance",
            "grant",
            "--id",
            "acme-slack",
            "--agent",
            "agent-7",
            "--trigger",
            "all",
            "--channels",
            "C1,C2",
            "--dms",
        ],
    )
    .await
    .expect("grant");
    assert!(granted.contains("\"all\""));
    let listed = cli(&stack, &["instance", "list"]).await.expect("list");
    assert!(
        listed.contains("acme-slack") && listed.contains("agent-7"),
        "{listed}"
    );
    assert!(listed.contains(demo::SLACK_INSTANCE));

    // The raw DynamoDB items hold no plaintext secret.
    let scan = stack
        .app
        .aws
        .dynamodb()
        .scan()
        .table_name(&stack.app.resources.instances_table)
        .send()
        .await
        .expect("scan");
    let dump = format!("{:?}", scan.items);
    assert!(!dump.contains(secret));
    assert!(!dump.contains(demo::SLACK_SIGNING_SECRET));

    let unknown_key = cli(
        &stack,
        &[
            "instance",
            "create",
            "--provider",
            "slack",
            "--id",
            "x",
            "--workspace",
            "w",
            "--set",
            "signing_secrt=1",
        ],
    )
    .await
    .expect_err("typo in key");
    assert!(unknown_key.contains("signing_secrt"), "{unknown_key}");
    let missing = cli(
        &stack,
        &[
            "instance",
            "create",
            "--provider",
            "discord",
            "--id",
            "y",
            "--workspace",
            "w",
        ],
    )
    .await
    .expect_err("missing public_key");
    assert!(missing.contains("public_key"), "{missing}");
    let duplicate = cli(
        &stack,
        &[
            "instance",
            "create",
            "--provider",
            "slack",
            "--id",
            "acme-slack",
            "--workspace",
            "w",
            "--set",
            "signing_secret=x",
        ],
    )
    .await
    .expect_err("duplicate id");
    assert!(duplicate.contains("already exists"), "{duplicate}");

    let deleted = cli(&stack, &["instance", "delete", "--id", "acme-slack"])
        .await
        .expect("delete");
    assert!(deleted.contains("deleted"));
    assert!(cli(&stack, &["instance", "show", "--id", "acme-slack"])
        .await
        .is_err());
}

#[tokio::test]
async fn events_and_dlq_listings() {
    let stack = Stack::new().await;
    let events = cli(&stack, &["events", "list"]).await.expect("events list");
    assert!(events.is_empty(), "{events}");
    let dlq = cli(&stack, &["dlq", "list"]).await.expect("dlq list");
    assert!(dlq.contains("0 message(s)"), "{dlq}");
    let redrive = cli(&stack, &["dlq", "redrive"]).await.expect("dlq redrive");
    assert!(redrive.contains("redrove 0"), "{redrive}");
}

/// Runs the CLI with `stdin`; returns what it printed on stdout and on stderr.
async fn cli_io(stack: &Stack, args: &[&str], stdin: &[u8]) -> Result<(String, String), String> {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let parsed = Cli::try_parse_from(std::iter::once("switchyard").chain(args.iter().copied()))
        .map_err(|e| e.to_string())?;
    let mut input = stdin;
    let io = Io {
        stdin: &mut input,
        out: &mut out,
        err: &mut err,
    };
    let result = run_with_io(&stack.app, parsed, io).await;
    let err = String::from_utf8(err).expect("utf8");
    result.map_err(|e| format!("{e}\nstderr: {err}"))?;
    Ok((String::from_utf8(out).expect("utf8"), err))
}

/// The secrets sealed on instance `id`, opened.
async fn opened(stack: &Stack, id: &str) -> std::collections::BTreeMap<String, String> {
    let instance = stack
        .app
        .instances
        .get(id)
        .await
        .expect("get")
        .expect("instance exists");
    let sealed = instance.sealed.as_ref().expect("sealed");
    stack
        .app
        .keyring
        .open(id, sealed)
        .await
        .expect("open")
        .into_iter()
        .map(|(k, v)| (k, v.expose().to_owned()))
        .collect()
}

#[tokio::test]
async fn secrets_can_come_from_stdin_or_a_file_and_argv_warns() {
    let stack = Stack::new().await;
    let create = |id: &'static str| {
        vec![
            "instance",
            "create",
            "--provider",
            "slack",
            "--id",
            id,
            "--workspace",
            "acme",
            "--set",
            "team_id=T1",
        ]
    };

    // From standard input: one trailing newline trimmed, no warning.
    let mut args = create("from-stdin");
    args.extend(["--secret-stdin", "signing_secret"]);
    let (out, err) = cli_io(&stack, &args, b"stdin-secret-0123\n")
        .await
        .expect("create from stdin");
    assert!(err.is_empty(), "no warning without a secret on argv: {err}");
    assert!(!out.contains("stdin-secret-0123"), "{out}");
    assert_eq!(
        opened(&stack, "from-stdin").await["signing_secret"],
        "stdin-secret-0123"
    );

    // From files (repeatable): one trailing newline trimmed, inner ones kept.
    let dir = std::env::temp_dir().join(format!("sy-cli-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (secret_file, token_file) = (dir.join("signing"), dir.join("token"));
    std::fs::write(&secret_file, "file-secret-4567\r\n").expect("write");
    std::fs::write(&token_file, "xoxb-file\n\n").expect("write");
    let secret_arg = format!("signing_secret={}", secret_file.display());
    let token_arg = format!("bot_token={}", token_file.display());
    let mut args = create("from-file");
    args.extend(["--set-file", &secret_arg, "--set-file", &token_arg]);
    let (_, err) = cli_io(&stack, &args, b"").await.expect("create from files");
    assert!(err.is_empty(), "{err}");
    let secrets = opened(&stack, "from-file").await;
    assert_eq!(secrets["signing_secret"], "file-secret-4567");
    assert_eq!(secrets["bot_token"], "xoxb-file\n");

    // On argv: still works, with a warning naming the key (never the value); plain keys
    // (team_id) do not warn.
    let mut args = create("from-argv");
    args.extend(["--set", "signing_secret=argv-secret-89ab"]);
    let (_, err) = cli_io(&stack, &args, b"").await.expect("create from argv");
    assert!(err.contains("warning"), "{err}");
    assert!(err.contains("signing_secret"), "{err}");
    assert!(err.contains("--secret-stdin signing_secret"), "{err}");
    assert!(
        !err.contains("argv-secret-89ab"),
        "the warning leaks the value: {err}"
    );
    assert!(!err.contains("team_id"), "team_id is not a secret: {err}");
    assert_eq!(
        opened(&stack, "from-argv").await["signing_secret"],
        "argv-secret-89ab"
    );

    // Refused: an empty stdin, a missing file, a key given twice. Nothing is created.
    let mut args = create("empty");
    args.extend(["--secret-stdin", "signing_secret"]);
    let empty = cli_io(&stack, &args, b"\n").await.expect_err("empty stdin");
    assert!(empty.contains("signing_secret"), "{empty}");
    let missing_arg = format!("signing_secret={}", dir.join("absent").display());
    let mut args = create("missing");
    args.extend(["--set-file", &missing_arg]);
    let missing = cli_io(&stack, &args, b"").await.expect_err("missing file");
    assert!(missing.contains("--set-file signing_secret"), "{missing}");
    let mut args = create("twice");
    args.extend([
        "--set-file",
        &secret_arg,
        "--secret-stdin",
        "signing_secret",
    ]);
    let twice = cli_io(&stack, &args, b"x").await.expect_err("twice");
    assert!(twice.contains("twice"), "{twice}");
    for id in ["empty", "missing", "twice"] {
        assert!(
            stack.app.instances.get(id).await.expect("get").is_none(),
            "{id}"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// The provider is part of the KMS encryption context (what the functions' IAM conditions test),
/// not just a label: an envelope whose provider is changed, or dropped, no longer opens.
#[tokio::test]
async fn envelopes_name_their_provider_in_the_kms_context() {
    let stack = Stack::new().await;
    let args = [
        "instance",
        "create",
        "--provider",
        "slack",
        "--id",
        "bound",
        "--workspace",
        "acme",
        "--secret-stdin",
        "signing_secret",
    ];
    cli_io(&stack, &args, b"bound-secret")
        .await
        .expect("create");
    let instance = stack
        .app
        .instances
        .get("bound")
        .await
        .expect("get")
        .expect("exists");
    let sealed = instance.sealed.expect("sealed");
    assert_eq!(sealed.provider.as_deref(), Some("slack"));
    assert_eq!(
        opened(&stack, "bound").await["signing_secret"],
        "bound-secret"
    );

    let mut other = sealed.clone();
    other.provider = Some("http".into());
    assert!(stack.app.keyring.open("bound", &other).await.is_err());
    let mut unbound = sealed.clone();
    unbound.provider = None;
    unbound.v = 1;
    assert!(stack.app.keyring.open("bound", &unbound).await.is_err());
}

/// Secrets sealed before the provider binding are resealed once by `instance reseal`, which
/// leaves bound ones alone.
#[tokio::test]
async fn reseal_binds_old_envelopes_to_their_provider() {
    let stack = Stack::new().await;
    let args = [
        "instance",
        "create",
        "--provider",
        "slack",
        "--id",
        "old",
        "--workspace",
        "acme",
        "--secret-stdin",
        "signing_secret",
    ];
    cli_io(&stack, &args, b"old-secret").await.expect("create");
    let instance = stack
        .app
        .instances
        .get("old")
        .await
        .expect("get")
        .expect("exists");
    let secrets = std::collections::BTreeMap::from([(
        "signing_secret".to_owned(),
        switchyard::secret::SecretString::from("old-secret"),
    )]);
    let legacy = stack
        .app
        .keyring
        .seal_legacy("instance_id", "old", &secrets)
        .await
        .expect("seal v1");
    assert!(legacy.is_legacy());
    assert!(stack
        .app
        .instances
        .set_secrets(
            "old",
            &legacy,
            &["signing_secret".to_owned()],
            instance.updated_at,
            instance.updated_at + 1,
        )
        .await
        .expect("store v1"));

    let (out, _) = cli_io(&stack, &["instance", "reseal"], b"")
        .await
        .expect("reseal");
    assert!(out.contains("resealed old"), "{out}");
    assert!(
        !out.contains(demo::SLACK_INSTANCE),
        "demo instances are bound already: {out}"
    );
    let after = stack
        .app
        .instances
        .get("old")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        after.sealed.as_ref().and_then(|s| s.provider.as_deref()),
        Some("slack")
    );
    assert_eq!(opened(&stack, "old").await["signing_secret"], "old-secret");
    let (again, _) = cli_io(&stack, &["instance", "reseal", "--id", "old"], b"")
        .await
        .expect("reseal again");
    assert!(again.contains("0 instance(s) resealed"), "{again}");
}

/// A webhook endpoint that serves another provider's instances (google-pubsub serves google)
/// cannot have instances of its own: such an instance could never be used.
#[tokio::test]
async fn an_instance_of_a_served_endpoint_is_refused_naming_the_provider_to_use() {
    let stack = Stack::new().await;
    let refused =
        switchyard_ops::admin::create_instance(&stack.app, "google-pubsub", "gp", "acme", &[])
            .await
            .expect_err("refused");
    assert!(
        matches!(&refused, switchyard_ops::admin::AdminError::ServedProvider { serves, .. } if serves == "google"),
        "{refused}"
    );
    assert!(stack.app.instances.get("gp").await.expect("get").is_none());
}
