#!/usr/bin/env python3
"""Invokes one function of template.yaml locally, like `sam local invoke` but without Docker.

    make invoke FUNCTION=SlackWebhookFunction EVENT=events/slack-webhook-app-mention.json
    .venv/bin/python infra/invoke.py SlackWebhookFunction events/slack-webhook-app-mention.json

1. Starts the emulator on 127.0.0.1:EMULATOR_PORT unless one answers (infra/emulator.sh; it is
   left running, like `make emulator`: `make emulator-stop` stops it).
2. Provisions the local stack and seeds the demo instances when they are missing, by running
   the local host (switchyard-local, the same code as `make dev`) until it is ready.
3. Runs the function's binary (Metadata.BuildProperties.Binary) under `cargo lambda watch`, a
   local Lambda Runtime API, with the environment the template gives the function: Globals and
   the function's own Variables, parameters at their defaults, and each `!Ref` to a stack
   resource replaced by the local stack's value of that variable, as `switchyard env` prints
   it for SWITCHYARD_STACK_PREFIX (table names, queue URLs, key id...).
4. `cargo lambda invoke <binary> --data-file EVENT`, prints the response, stops the watcher.
   Events listed in events/manifest.json run with the function's clock pinned to the instant
   they were signed for (SWITCHYARD_CLOCK_PIN, honoured only next to a loopback emulator), so
   the fixed-time samples verify; `--no-pin` runs at real time.

Other variables already in the environment are passed through (SWITCHYARD_STACK_PREFIX and
resource variables the template does not give the function are removed), unless the template
sets them: e.g. RUST_LOG becomes the template's LogLevel default; pass --log to override.
Needs the venv (PyYAML, boto3) and cargo-lambda in it: run through `make invoke`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("VENV", ROOT / ".venv"))
STATE = ROOT / ".local"

# What stack.rs provisions locally, as `<prefix>-<LogicalId>` (buckets lowercased).
PROVISIONED = (
    "AWS::DynamoDB::Table",
    "AWS::SQS::Queue",
    "AWS::S3::Bucket",
    "AWS::Events::EventBus",
    "AWS::SecretsManager::Secret",
)
DEMO_INSTANCES = ("demo-slack", "demo-discord")


class Fail(Exception):
    """A step failed; the message says which and what to look at."""


def say(message: str) -> None:
    print(f"invoke: {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- template


class Tagged:
    """A CloudFormation short-form intrinsic (!Ref X, !GetAtt X.Y, !Sub ...)."""

    def __init__(self, tag: str, value: object) -> None:
        self.tag, self.value = tag, value

    def __repr__(self) -> str:
        return f"{self.tag} {self.value}"


class _Loader(yaml.SafeLoader):
    pass


def _tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Tagged:
    if isinstance(node, yaml.ScalarNode):
        value: object = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return Tagged("!" + suffix, value)


_Loader.add_multi_constructor("!", _tagged)


def load_template() -> dict:
    return yaml.load((ROOT / "template.yaml").read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506


def function_spec(template: dict, logical_id: str) -> tuple[str, dict[str, str], dict[str, str]]:
    """(binary, plain variables, variables naming stack resources) of the function `logical_id`.

    Plain variables are literals and parameters (at their defaults); the others map the
    variable to the `!Ref`/`!GetAtt`/`!Sub` text the template gives it."""
    resources = template.get("Resources", {})
    functions = sorted(k for k, v in resources.items() if v.get("Type") == "AWS::Serverless::Function")
    resource = resources.get(logical_id)
    if not resource or resource.get("Type") != "AWS::Serverless::Function":
        raise Fail(f"no function {logical_id!r} in template.yaml; functions: {', '.join(functions)}")
    binary = ((resource.get("Metadata") or {}).get("BuildProperties") or {}).get("Binary")
    if not binary:
        raise Fail(f"{logical_id} has no Metadata.BuildProperties.Binary")

    parameters = template.get("Parameters", {})
    glob = (((template.get("Globals") or {}).get("Function") or {}).get("Environment") or {}).get("Variables") or {}
    own = ((resource.get("Properties") or {}).get("Environment") or {}).get("Variables") or {}
    env, skipped = {}, {}
    for name, value in {**glob, **own}.items():
        if isinstance(value, Tagged):
            if value.tag == "!Ref" and value.value in parameters:
                default = parameters[value.value].get("Default", "")
                env[name] = str(default)
            else:
                skipped[name] = repr(value)
        elif isinstance(value, bool):
            env[name] = "true" if value else "false"
        elif isinstance(value, (str, int, float)):
            env[name] = str(value)
        else:
            skipped[name] = repr(value)
    return str(binary), env, skipped


def stack_names(template: dict, prefix: str) -> dict[str, list[str]]:
    """Physical names of the provisioned resources by type."""
    names: dict[str, list[str]] = {}
    for logical_id, resource in template.get("Resources", {}).items():
        kind = resource.get("Type")
        if kind in PROVISIONED:
            name = f"{prefix}-{logical_id}"
            names.setdefault(kind, []).append(name.lower() if kind == "AWS::S3::Bucket" else name)
    return names


# ---------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int) -> bool:
    """A TCP connect only: an HTTP request to the watcher would invoke a function."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def run(cmd: list[str], env: dict[str, str], what: str) -> None:
    say(f"{what}: {' '.join(cmd)}")
    if subprocess.run(cmd, cwd=ROOT, env=env).returncode != 0:
        raise Fail(f"{what} failed")


def target_dir(env: dict[str, str]) -> Path:
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(json.loads(out.stdout)["target_directory"])


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM, grace: float = 10.0) -> None:
    """Stops `process` and its children (it was started in its own process group)."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, sig)
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


# ---------------------------------------------------------------- steps


def ensure_emulator(port: int, env: dict[str, str]) -> None:
    run(["bash", str(ROOT / "infra/emulator.sh"), "start", str(port)], env, "emulator")


def stack_missing(template: dict, prefix: str, env: dict[str, str]) -> list[str]:
    """What of the local stack is missing (empty when it is complete)."""
    import boto3  # the venv's; only needed here

    session = boto3.session.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_REGION"],
    )
    endpoint = env["AWS_ENDPOINT_URL"]
    client = lambda service: session.client(service, endpoint_url=endpoint)  # noqa: E731
    names = stack_names(template, prefix)
    missing = []

    tables = set(client("dynamodb").list_tables().get("TableNames", []))
    missing += [t for t in names.get("AWS::DynamoDB::Table", []) if t not in tables]
    sqs = client("sqs")
    for queue in names.get("AWS::SQS::Queue", []):
        try:
            sqs.get_queue_url(QueueName=queue)
        except sqs.exceptions.QueueDoesNotExist:
            missing.append(queue)
    buckets = {b["Name"] for b in client("s3").list_buckets().get("Buckets", [])}
    missing += [b for b in names.get("AWS::S3::Bucket", []) if b not in buckets]
    buses = {b["Name"] for b in client("events").list_event_buses().get("EventBuses", [])}
    missing += [b for b in names.get("AWS::Events::EventBus", []) if b not in buses]
    secrets = {s["Name"] for s in client("secretsmanager").list_secrets().get("SecretList", [])}
    missing += [s for s in names.get("AWS::SecretsManager::Secret", []) if s not in secrets]

    instances = f"{prefix}-InstancesTable"
    if instances in tables:
        dynamodb = client("dynamodb")
        for demo in DEMO_INSTANCES:
            if "Item" not in dynamodb.get_item(TableName=instances, Key={"pk": {"S": demo}}):
                missing.append(f"instance {demo}")
    return missing


def provision(prefix: str, env: dict[str, str]) -> None:
    """Runs the local host until it has provisioned the stack and seeded the demo, then stops it."""
    binary = target_dir(env) / "debug" / "switchyard-local"
    STATE.mkdir(exist_ok=True)
    log_path = STATE / "invoke-provision.log"
    say(f"provisioning the stack and seeding the demo instances (prefix {prefix}, log {log_path})")
    with open(log_path, "w") as log:
        host = subprocess.Popen(
            [str(binary), "--prefix", prefix, "--port", "0"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            start_new_session=True,
        )
        try:
            assert host.stdout is not None
            for line in host.stdout:
                log.write(line)
                if "local host ready" in line:
                    return
            raise Fail(f"the local host exited ({host.wait()}) before it was ready; see {log_path}")
        finally:
            stop(host, signal.SIGINT)


def stack_env(env: dict[str, str]) -> dict[str, str]:
    """`switchyard env`: every resource variable with the local stack's value."""
    binary = target_dir(env) / "debug" / "switchyard"
    out = subprocess.run([str(binary), "env"], cwd=ROOT, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise Fail(f"switchyard env failed: {out.stderr.strip()}")
    values = {}
    for line in out.stdout.splitlines():
        name, sep, value = line.partition("=")
        if sep:
            values[name.strip()] = value
    return values


def signed_at(event: Path) -> int | None:
    """The instant events/manifest.json says `event` was signed for, if it is listed there."""
    manifest = event.parent / "manifest.json"
    if not manifest.is_file():
        return None
    entries = json.loads(manifest.read_text(encoding="utf-8")).get("events", [])
    return next((e.get("clock") for e in entries if e.get("file") == event.name), None)


def invoke(binary: str, event: Path, env: dict[str, str], watch_port: int, log_path: Path) -> int:
    cargo_lambda = str(VENV / "bin/cargo-lambda")
    watch_cmd = [
        cargo_lambda, "lambda", "watch",
        "--invoke-address", "127.0.0.1", "--invoke-port", str(watch_port),
        "--ignore-changes",
    ]  # fmt: skip
    say(f"cargo lambda watch on 127.0.0.1:{watch_port} (log {log_path})")
    with open(log_path, "w") as log:
        watch = subprocess.Popen(
            watch_cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            deadline = time.monotonic() + 60
            while not listening(watch_port):
                if watch.poll() is not None:
                    raise Fail(f"cargo lambda watch exited ({watch.returncode}); see {log_path}")
                if time.monotonic() > deadline:
                    raise Fail(f"cargo lambda watch did not answer within 60 s; see {log_path}")
                time.sleep(0.2)
            invoke_cmd = [
                cargo_lambda, "lambda", "invoke",
                "--invoke-address", "127.0.0.1", "--invoke-port", str(watch_port),
                "--data-file", str(event), binary,
            ]  # fmt: skip
            say(f"{' '.join(invoke_cmd[1:])}")
            result = subprocess.run(invoke_cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        finally:
            stop(watch)
    # The function's own log lines (JSON, as on Lambda), like `sam local invoke` shows them.
    for line in log_path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            print(line, file=sys.stderr)
    if result.stdout.strip():
        try:
            print(json.dumps(json.loads(result.stdout), indent=2))
        except json.JSONDecodeError:
            print(result.stdout, end="" if result.stdout.endswith("\n") else "\n")
    if result.returncode != 0:
        sys.stderr.write(result.stderr)
        say(f"invoke failed ({result.returncode}); function log: {log_path}")
    return result.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Invoke one template function locally (no Docker).")
    parser.add_argument("function", nargs="?", default="", help="logical id, e.g. SlackWebhookFunction")
    parser.add_argument("event", nargs="?", default="", help="event JSON, e.g. events/slack-webhook-app-mention.json")
    parser.add_argument("--prefix", default=os.environ.get("PREFIX", "switchyard"), help="stack prefix")
    parser.add_argument("--emulator-port", type=int, default=int(os.environ.get("EMULATOR_PORT", "4566")))
    parser.add_argument("--watch-port", type=int, default=0, help="cargo lambda watch port (default: a free one)")
    parser.add_argument("--log", help="RUST_LOG for the function (default: the template's LogLevel)")
    parser.add_argument("--no-pin", action="store_true",
                        help="run at real time, not at the instant events/manifest.json says the event was signed for")
    parser.add_argument("--provision", action="store_true", help="provision and seed even if the stack looks complete")
    args = parser.parse_args(argv)
    if not args.function or not args.event:
        parser.print_usage(sys.stderr)
        say("usage: make invoke FUNCTION=<logical id> EVENT=events/<file>.json")
        return 2

    try:
        template = load_template()
        binary, plain, resources = function_spec(template, args.function)
        event = Path(args.event)
        if not event.is_absolute():
            event = (Path.cwd() / event).resolve()
        if not event.is_file():
            raise Fail(f"no event file {args.event}")
        json.loads(event.read_text(encoding="utf-8"))  # fail here, not inside the watcher

        # The tools' environment: emulator, test credentials, the stack prefix, the venv's bin.
        env = dict(os.environ)
        env.setdefault("AWS_ACCESS_KEY_ID", "test")
        env.setdefault("AWS_SECRET_ACCESS_KEY", "test")
        env.setdefault("AWS_REGION", "us-east-1")
        env["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{args.emulator_port}"
        env["SWITCHYARD_STACK_PREFIX"] = args.prefix
        env["VENV"] = str(VENV)
        env["PATH"] = f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}"  # cargo-lambda, zig

        ensure_emulator(args.emulator_port, env)
        # One build for everything (the function's binary first of all, so the watcher's first
        # invocation starts it instead of compiling while the invoke request waits).
        bins = [binary, "switchyard", "switchyard-local"]
        run(["cargo", "build", "--quiet"] + [a for b in dict.fromkeys(bins) for a in ("--bin", b)], env, "build")
        missing = ["(forced)"] if args.provision else stack_missing(template, args.prefix, env)
        if missing:
            say(f"local stack incomplete ({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''})")
            provision(args.prefix, env)
        else:
            say(f"local stack {args.prefix} present")

        # The function's environment: the template's variables, resources resolved locally.
        try:
            local = stack_env(env)
        except Fail:
            if missing:
                raise
            say("the stack does not resolve; provisioning it")
            provision(args.prefix, env)
            local = stack_env(env)
        unresolved = [name for name in resources if name not in local]
        if unresolved:
            raise Fail(f"`switchyard env` prints no value for {', '.join(unresolved)} ({args.function})")
        function_env = dict(env)
        for name in list(local) + ["SWITCHYARD_STACK_PREFIX"]:
            function_env.pop(name, None)  # only what the template gives this function
        given = {**plain, **{name: local[name] for name in resources}}
        function_env.update(given)
        if args.log:
            function_env["RUST_LOG"] = args.log
        pin = signed_at(event)
        if pin is not None and not args.no_pin:
            # The samples are signed for a fixed instant: run the function at that instant
            # (honoured only next to this loopback emulator; see config::clock).
            function_env["SWITCHYARD_CLOCK_PIN"] = str(pin)
            say(f"clock pinned to {pin} (the instant {event.name} was signed for; --no-pin: real time)")
        say(f"{args.function}: binary {binary}")
        for name, value in given.items():
            say(f"  {name}={value}")

        STATE.mkdir(exist_ok=True)
        port = args.watch_port or free_port()
        return invoke(binary, event, function_env, port, STATE / f"invoke-{args.function}.log")
    except Fail as e:
        say(str(e))
        return 1


if __name__ == "__main__":
    sys.exit(main())
