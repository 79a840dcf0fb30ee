#!/usr/bin/env python3
"""Steady-state benchmark of the real function binaries under a stub Lambda Runtime API.

What runs
    The release `webhook` binary (as the Slack and the Discord webhook function) is handed
    N signed webhook events, one at a time, by a stub Runtime API on loopback, against the AWS
    emulator (AWS_ENDPOINT_URL, through a counting proxy). 10 % of the events are duplicates
    of earlier ones, as provider retries are. Then the `consumer` binary is handed the WorkItems
    the webhooks queued, as SQS batch events of 10. The floor is a minimal `lambda_runtime`
    echo function (infra/bench/echo) handed the same Slack events.

What is measured, per binary
    cpu/event     user + system CPU of the function process (from /proc/<pid>/stat), from its
                  first /next (init excluded) to its last response, divided by the events
    user, sys     the same, split
    p50, p99      per-event latency: /next answered -> response posted, in the stub
    peak RSS      VmHWM of the process at the end
    AWS calls     requests through the counting proxy per event, by operation
    init          exec -> first /next

Events are signed at the real time (the binaries run on the system clock). Every figure is
printed beside the floor's in the same run, as ratios, because the machine is noisy.

The floor, and what the stub must not add to it
    The first runs of this harness put the echo floor at 1.05 ms CPU per event, 0.94 ms of it
    system time, against 0.12-0.32 ms quoted in issue 13. strace of the floor showed the stub
    kept its keep-alive HTTP/1.1 connections (about four connects in a run, not one per /next),
    so reconnects were not it. Two things were:
    - the stub answered in two writes (BaseHTTPRequestHandler flushes the head in
      `end_headers()`, then writes the body), so each event woke the function twice (epoll_wait,
      a futex wake to the waiting task, a second recvfrom): 2.4 reads per event instead of 2.
      Lambda's Runtime API answers in one write; so do the stub and the counting proxy now
      (`OneWrite`), which took the floor from 0.38-0.50 ms to 0.27-0.33 ms on an idle machine;
    - the rest of the 1.05 ms was load: the machine had a release build running on both cores.
      CPU time of a process that wakes 4 times per event grows with contention (scheduler work,
      cache misses, cross-CPU wakeups, which in this VM are IPIs), so the ratios against a floor
      from the same run are the figures to read, never the absolute ones from different runs.
    CPU comes from /proc/<pid>/stat: the user/system split is sampled at the tick, but the total
    is the scheduler's exact runtime (the kernel scales the two to it), so cpu/event is exact
    and user/sys are estimates.

Before/after in one command
    --base-webhook/--base-consumer run a baseline build's binaries first, on their own fresh
    event ids, beside the same floor (`BENCH_BASELINE_REF=<ref> make bench` passes them).

    infra/with-emulator.sh .venv/bin/python infra/bench/steady.py \
        --webhook target/release/webhook --consumer target/release/consumer \
        --floor target/release/bench-echo --events 1000 --json .local/bench/steady.json
"""

from __future__ import annotations

import argparse
import http.client
import http.server
import json
import os
import queue
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "infra"))
import invoke  # noqa: E402  (provisioning and `switchyard env`)
import make_events as ev  # noqa: E402  (the signers and payload shapes of the sample events)

API = "/2018-06-01/runtime"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PREFIX = "steady"


# ------------------------------------------------------------------ the stub Runtime API


@dataclass
class Served:
    """What the stub handed out and got back."""

    first_next_at: float | None = None
    handed: dict[str, float] = field(default_factory=dict)  # request id -> when /next answered
    answered: dict[str, tuple[float, int, bytes]] = field(default_factory=dict)  # id -> (at, kind, body)
    errors: list[str] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)


class Runtime(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, events: list[bytes]):
        super().__init__(("127.0.0.1", 0), RuntimeHandler)
        self.events: "queue.Queue[tuple[str, bytes]]" = queue.Queue()
        for n, body in enumerate(events):
            self.events.put((f"req-{n:06d}", body))
        self.total = len(events)
        self.served = Served()
        self.lock = threading.Lock()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


class OneWrite:
    """Answers as Lambda's Runtime API (Go net/http) does: one keep-alive HTTP/1.1 connection,
    and each answer, status line to body, in one write with TCP_NODELAY.

    `BaseHTTPRequestHandler` flushes the headers in `end_headers()` and the body in a second
    write. Without TCP_NODELAY, Nagle's algorithm and the peer's delayed ACK then add 40 ms to
    every answer; with it, the function still wakes twice per answer (epoll, futex, a second
    read) and that CPU was charged to the function, not to what a real Runtime API costs."""

    def setup(self) -> None:
        super().setup()  # type: ignore[misc]
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # type: ignore[attr-defined]

    def answer(self, code: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(code)  # type: ignore[attr-defined]
        for name, value in headers:
            self.send_header(name, value)  # type: ignore[attr-defined]
        self.send_header("content-length", str(len(body)))  # type: ignore[attr-defined]
        # end_headers() without its flush: the blank line and the body join the buffered head.
        self._headers_buffer.append(b"\r\n" + body)  # type: ignore[attr-defined]
        self.flush_headers()  # type: ignore[attr-defined]


class RuntimeHandler(OneWrite, http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Runtime

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def reply(self, code: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.answer(code, [("content-type", "application/json"), *(headers or {}).items()], body)

    def do_GET(self) -> None:  # noqa: N802
        if self.path != f"{API}/invocation/next":
            return self.reply(404)
        served = self.server.served
        now = time.monotonic()
        with self.server.lock:
            if served.first_next_at is None:
                served.first_next_at = now
        try:
            request_id, body = self.server.events.get_nowait()
        except queue.Empty:
            served.done.set()
            time.sleep(3600)  # hold: the harness kills the process
            return
        deadline_ms = int((time.time() + 30) * 1000)
        with self.server.lock:
            served.handed[request_id] = time.monotonic()
        self.reply(200, body, {
            "lambda-runtime-aws-request-id": request_id,
            "lambda-runtime-deadline-ms": str(deadline_ms),
            "lambda-runtime-invoked-function-arn": "arn:aws:lambda:us-east-1:123456789012:function:bench",
            "lambda-runtime-trace-id": "Root=1-00000000-000000000000000000000000;Sampled=0",
        })

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = self.path.split("/")
        served = self.server.served
        if self.path == f"{API}/init/error":
            served.errors.append(f"init error: {body[:500]!r}")
            served.done.set()
            return self.reply(202)
        if len(parts) >= 6 and parts[-1] in ("response", "error"):
            request_id = parts[-2]
            with self.server.lock:
                served.answered[request_id] = (time.monotonic(), parts[-1] == "error", body)
                if parts[-1] == "error":
                    served.errors.append(f"{request_id}: {body[:300]!r}")
            return self.reply(202)
        self.reply(404)


# ------------------------------------------------------------------ the counting AWS proxy


class CountingProxy(http.server.ThreadingHTTPServer):
    """Forwards every request to the emulator and counts it by operation."""

    daemon_threads = True

    def __init__(self, upstream: str, latency: float = 0.0):
        super().__init__(("127.0.0.1", 0), ProxyHandler)
        self.latency = latency
        parsed = urllib.parse.urlsplit(upstream)
        self.upstream = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def take(self) -> Counter[str]:
        with self.lock:
            calls, self.calls = self.calls, Counter()
        return calls


class ProxyHandler(OneWrite, http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: CountingProxy

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def forward(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        target = self.headers.get("x-amz-target")
        if target:
            operation = target
        else:  # query protocol (SQS) or REST (S3)
            form = urllib.parse.parse_qs(body.decode("latin-1")) if body else {}
            operation = form.get("Action", [f"{self.command} {self.path.split('?')[0]}"])[0]
        with self.server.lock:
            self.server.calls[operation] += 1
        if self.server.latency:
            time.sleep(self.server.latency)
        connection = http.client.HTTPConnection(*self.server.upstream, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
        connection.request(self.command, self.path, body=body, headers=headers)
        answer = connection.getresponse()
        data = answer.read()
        connection.close()
        self.answer(answer.status, [(name, value) for name, value in answer.getheaders()
                                    if name.lower() not in ("transfer-encoding", "connection",
                                                            "content-length", "server", "date")],
                    data)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = forward  # noqa: N815


# ------------------------------------------------------------------ events


def slack_events(n: int, duplicates: float, series: int = 0) -> list[bytes]:
    """`n` Lambda events of signed Slack app mentions, every 1/duplicates-th a retry. Each
    `series` has its own event ids, so a second binary's run is not taken for retries."""
    out: list[bytes] = []
    fresh = series * 10_000_000
    every = round(1 / duplicates) if duplicates else 0
    for i in range(n):
        if every and i % every == every - 1 and out:
            out.append(out[-1])  # the provider's retry: the same bytes again
            continue
        fresh += 1
        now = int(time.time())
        event = dict(ev.APP_MENTION)
        event["event_id"] = f"EvSTEADY{fresh:08d}"
        event["event_time"] = now
        body = ev.compact(event)
        headers = ev.slack_headers(body, "application/json", now)
        lambda_event = ev.http_event(provider="slack", instance_id=ev.SLACK_INSTANCE, body=body,
                                     headers=headers, request_no=i + 1)
        out.append(json.dumps(lambda_event).encode())
    return out


def discord_events(n: int, duplicates: float, series: int = 0) -> list[bytes]:
    """`n` Lambda events of signed Discord slash commands, every 1/duplicates-th a retry (ids
    per `series` as above)."""
    out: list[bytes] = []
    fresh = series * 10_000_000
    every = round(1 / duplicates) if duplicates else 0
    for i in range(n):
        if every and i % every == every - 1 and out:
            out.append(out[-1])
            continue
        fresh += 1
        now = int(time.time())
        command = dict(ev.DISCORD_COMMAND)
        command["id"] = str(210000000000000000 + fresh)
        command["token"] = ev.discord_token(command["id"])
        body = ev.compact(command)
        headers = ev.discord_headers(body, now)
        lambda_event = ev.http_event(provider="discord", instance_id=ev.DISCORD_INSTANCE,
                                     body=body, headers=headers, request_no=i + 1)
        out.append(json.dumps(lambda_event).encode())
    return out


def sqs_batches(bodies: list[str], size: int = 10) -> list[bytes]:
    out = []
    for start in range(0, len(bodies), size):
        records = [ev.sqs_record(start + k, body) for k, body in enumerate(bodies[start:start + size])]
        out.append(json.dumps({"Records": records}).encode())
    return out


# ------------------------------------------------------------------ a run


@dataclass
class Figures:
    name: str
    events: int
    init_ms: float
    cpu_ms: float  # per event
    user_ms: float
    sys_ms: float
    p50_ms: float
    p99_ms: float
    peak_rss_mb: float
    calls: dict[str, float]  # per event
    errors: int

    def row(self) -> dict:
        return self.__dict__


def proc_cpu(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLOCK_TICKS, int(fields[12]) / CLOCK_TICKS


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def run(name: str, binary: Path, env: dict[str, str], events: list[bytes],
        proxy: CountingProxy | None, timeout: float,
        perf_dir: Path | None = None) -> tuple[Figures, Served]:
    stub = Runtime(events)
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    run_env = {
        **env,
        "AWS_LAMBDA_RUNTIME_API": stub.address,
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "_HANDLER": "bootstrap",
        "RUST_LOG": "warn",
    }
    if proxy is not None:
        proxy.take()
    started = time.monotonic()
    log = open(invoke.STATE / f"steady-{name}.log", "w")
    process = subprocess.Popen([str(binary)], env=run_env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        while stub.served.first_next_at is None:
            if process.poll() is not None:
                raise SystemExit(f"{name}: exited {process.returncode} before its first /next; "
                                 f"see .local/steady-{name}.log")
            if time.monotonic() - started > timeout:
                raise SystemExit(f"{name}: no /next within {timeout} s")
            time.sleep(0.001)
        cpu_start = proc_cpu(process.pid)
        profiler = profile(process.pid, perf_dir / f"{name}.data") if perf_dir else None
        if not stub.served.done.wait(timeout):
            raise SystemExit(f"{name}: {len(stub.served.answered)}/{len(events)} answered in {timeout} s")
        while len(stub.served.answered) < len(events) and not stub.served.errors:
            time.sleep(0.001)
        cpu_end = proc_cpu(process.pid)
        rss = peak_rss_mb(process.pid)
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(timeout=60)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        stub.shutdown()
        log.close()
    served = stub.served
    latencies = [(served.answered[i][0] - served.handed[i]) * 1000
                 for i in served.answered if i in served.handed]
    n = len(events)
    user, system = cpu_end[0] - cpu_start[0], cpu_end[1] - cpu_start[1]
    calls = proxy.take() if proxy is not None else Counter()
    return Figures(
        name=name, events=n, init_ms=(served.first_next_at - started) * 1000,
        cpu_ms=(user + system) * 1000 / n, user_ms=user * 1000 / n, sys_ms=system * 1000 / n,
        p50_ms=percentile(latencies, 0.5), p99_ms=percentile(latencies, 0.99),
        peak_rss_mb=rss, calls={op: count / n for op, count in sorted(calls.items())},
        errors=len(served.errors),
    ), served


def profile(pid: int, out: Path) -> subprocess.Popen:
    """`perf record` of `pid` from its first /next (init excluded), sampling the CPU clock (the
    hardware counters are not always there in a VM) with call graphs from frame pointers, for
    `perf report -i <out>`; a binary with its symbols (`[profile.profiling]`) makes it readable."""
    out.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", "4999", "-g",
                             "-p", str(pid), "-o", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def statuses(served: Served) -> Counter[int]:
    out: Counter[int] = Counter()
    for _, is_error, body in served.answered.values():
        if is_error:
            out[-1] += 1
            continue
        try:
            out[json.loads(body).get("statusCode", 0)] += 1
        except ValueError:
            out[0] += 1
    return out


def queued_bodies(env: dict[str, str], queue_url: str) -> list[str]:
    """Takes every message off the ingress queue (what the webhooks queued)."""
    import boto3

    sqs = boto3.client("sqs", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                       aws_access_key_id="test", aws_secret_access_key="test")
    bodies = []
    while True:
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        messages = got.get("Messages", [])
        if not messages:
            return bodies
        bodies.extend(m["Body"] for m in messages)
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(k), "ReceiptHandle": m["ReceiptHandle"]} for k, m in enumerate(messages)
        ])


def detach_bus_targets(env: dict[str, str], bus: str) -> int:
    """Removes the targets of every rule on the stack's agent bus; returns how many.

    Every event the consumer publishes matches the bus's rules (the operator tap, the stand-in
    queues of the live-events and other rule-target functions), and the emulator's SQS send
    slows with the depth of those queues: a 10-entry PutEvents took 0.1 s with the tap empty and
    about 1 s with 3,000 messages on it (moto 5.2), and in a run of two consumers one after the
    other half the second one's PutEvents passed the 2.5 s operation timeout, so that consumer
    failed batches and did other work than the first. Purging the tap once a minute (the
    emulator allows no more) was not enough. Nothing reads those queues here, and EventBridge's
    latency does not depend on its targets' backlog, so the rules keep matching and deliver
    nowhere."""
    import boto3

    events = boto3.client("events", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
    removed = 0
    for rule in events.list_rules(EventBusName=bus).get("Rules", []):
        targets = events.list_targets_by_rule(Rule=rule["Name"], EventBusName=bus).get("Targets", [])
        if targets:
            events.remove_targets(Rule=rule["Name"], EventBusName=bus,
                                  Ids=[t["Id"] for t in targets])
            removed += len(targets)
    return removed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--webhook", type=Path, required=True)
    parser.add_argument("--consumer", type=Path, required=True)
    parser.add_argument("--floor", type=Path, required=True, help="the lambda_runtime echo binary")
    parser.add_argument("--base-webhook", type=Path, help="a baseline build's webhook, run first")
    parser.add_argument("--base-consumer", type=Path, help="a baseline build's consumer")
    parser.add_argument("--base-label", default="base", help="the baseline's name in the table")
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--duplicates", type=float, default=0.1)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--perf", type=Path, metavar="DIR",
                        help="record a perf profile of each binary's steady state into DIR/<name>.data")
    parser.add_argument("--aws-latency-ms", type=float, default=0.0, metavar="MS",
                        help="a network round trip the proxy adds to every AWS call (a region's "
                             "few milliseconds; the emulator on loopback has none), so that "
                             "latency figures show what runs concurrently and what in a row")
    parser.add_argument("--no-consumer", action="store_true",
                        help="run the floor and the webhooks only (quick comparisons, profiles)")
    args = parser.parse_args()
    if "AWS_ENDPOINT_URL" not in os.environ:
        raise SystemExit("AWS_ENDPOINT_URL is not set: run under infra/with-emulator.sh")

    env = dict(os.environ)
    env.setdefault("AWS_REGION", "us-east-1")
    env["SWITCHYARD_STACK_PREFIX"] = PREFIX
    invoke.STATE.mkdir(exist_ok=True)
    invoke.provision(PREFIX, env)
    local = invoke.stack_env(env)
    proxy = CountingProxy(env["AWS_ENDPOINT_URL"], args.aws_latency_ms / 1000)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    base = {k: v for k, v in env.items() if k != "SWITCHYARD_STACK_PREFIX"}
    base["AWS_ENDPOINT_URL"] = proxy.url
    base.update(local)

    detach_bus_targets(env, local["SWITCHYARD_EVENT_BUS"])

    variants = [("", args.webhook, args.consumer)]
    if args.base_webhook or args.base_consumer:
        if not (args.base_webhook and args.base_consumer):
            raise SystemExit("--base-webhook and --base-consumer go together")
        variants.insert(0, (f"@{args.base_label}", args.base_webhook, args.base_consumer))
    expected = 2 * (args.events - args.events // round(1 / args.duplicates)) if args.duplicates else 2 * args.events
    floor, _ = run("floor-echo", args.floor, base, slack_events(args.events, args.duplicates),
                   None, args.timeout, args.perf)
    results = [floor]
    for series, (suffix, webhook, consumer_binary) in enumerate(variants):
        for provider, events in (("slack", slack_events(args.events, args.duplicates, series)),
                                 ("discord", discord_events(args.events, args.duplicates, series))):
            name = f"webhook-{provider}{suffix}"
            figures, served = run(name, webhook, {**base, "SWITCHYARD_PROVIDER": provider}, events,
                                  proxy, args.timeout, args.perf)
            seen = statuses(served)
            if figures.errors or set(seen) - {200}:
                raise SystemExit(f"{name}: statuses {dict(seen)}, errors {figures.errors}; "
                                 f"see .local/steady-{name}.log")
            results.append(figures)
        if args.no_consumer:
            continue
        bodies = queued_bodies(base | {"AWS_ENDPOINT_URL": env["AWS_ENDPOINT_URL"]},
                               local["SWITCHYARD_INGRESS_QUEUE_URL"])
        if len(bodies) != expected:
            print(f"warning: {len(bodies)} WorkItems queued, {expected} expected", file=sys.stderr)
        name = f"consumer{suffix}"
        consumer, _ = run(name, consumer_binary, base, sqs_batches(bodies), proxy, args.timeout,
                          args.perf)
        if consumer.errors:
            raise SystemExit(f"{name}: {consumer.errors} errors; see .local/steady-{name}.log")
        results.append(consumer)

    print(table(results, floor))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([r.row() for r in results], indent=2) + "\n")
    return 0


def table(results: list[Figures], floor: Figures) -> str:
    lines = [
        f"{'binary':<24} {'events':>6} {'cpu/ev ms':>9} {'x floor':>7} {'user':>6} {'sys':>6} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'RSS MB':>7} {'init ms':>7} {'x floor':>7}  AWS calls/event",
    ]
    for r in results:
        calls = ", ".join(f"{op.split('.')[-1]} {n:.2f}" for op, n in r.calls.items()) or "-"
        lines.append(
            f"{r.name:<24} {r.events:>6} {r.cpu_ms:>9.3f} {r.cpu_ms / floor.cpu_ms:>7.1f} "
            f"{r.user_ms:>6.3f} {r.sys_ms:>6.3f} {r.p50_ms:>7.2f} {r.p99_ms:>7.2f} "
            f"{r.peak_rss_mb:>7.1f} {r.init_ms:>7.1f} {r.init_ms / floor.init_ms:>7.1f}  {calls}"
        )
    lines.append("consumer events are 10-message SQS batches; its cpu/ev is per batch.")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
