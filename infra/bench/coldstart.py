#!/usr/bin/env python3
"""Cold-start (init time) benchmark for Lambda function binaries.

What is measured
    init = t1 - t0, where
      t0 = time.monotonic() immediately before subprocess.Popen(BINARY)
      t1 = time.monotonic() when the binary's first
           ``GET /2018-06-01/runtime/invocation/next`` reaches a stub Runtime API
           (infra/bench/runtime_stub.py, in this process, on 127.0.0.1).
    That is Lambda's init phase for a custom runtime: exec, dynamic loading, runtime
    and SDK set-up, config parsing, everything ``main`` does before asking for work.
    It excludes what real Lambda adds around it (sandbox creation, code download), so
    compare binaries with each other, not with CloudWatch "Init Duration".

Why a baseline
    t0..t1 also contains fixed costs that are not the function's: Python's fork/exec,
    the kernel's exec, the loopback connect, the stub's accept-and-parse, and whatever
    the (possibly busy) machine is doing. baseline_runtime.c is the smallest process
    that can issue the request, so it measures exactly that floor. Runs of the binary
    and the baseline are interleaved (A B, B A, A B, ...) so drift in machine load hits
    both alike, and the report gives median(binary) / median(baseline) and the
    difference of medians, which is the binary's own init cost.

Each run gets a fresh stub and a clean environment: the --env pairs plus
AWS_LAMBDA_RUNTIME_API, AWS_LAMBDA_FUNCTION_NAME=bench, AWS_LAMBDA_FUNCTION_VERSION=$LATEST,
AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256, AWS_LAMBDA_LOG_GROUP_NAME, AWS_LAMBDA_LOG_STREAM_NAME,
AWS_REGION / AWS_DEFAULT_REGION=us-east-1, AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY=test,
_HANDLER=bootstrap and PATH=/usr/local/bin:/usr/bin:/bin. --env may override any of
these except AWS_LAMBDA_RUNTIME_API (AWS_DEFAULT_REGION follows an overridden AWS_REGION).
The process runs in its own session and its whole process group is SIGKILLed as soon as
/next arrives, after --timeout seconds (failed run), on Ctrl-C / SIGTERM, or on any error. Output (stdout+stderr) goes to a temp file and its
tail is shown for failed runs.

Runs come in rounds (one binary run + one baseline run, order alternating); the first
--warmup rounds (default 1) are discarded - they pay the page-cache misses of a first exec.
Percentiles interpolate linearly between samples (numpy's default).

A run fails if: the process exits before sending /next, it POSTs /runtime/init/error,
or /next does not arrive within --timeout. Failed runs are excluded from the figures
and listed.

Usage
    python3 infra/bench/coldstart.py [--runs 30] [--warmup 1] [--timeout 10]
        [--env KEY=VAL ...] [--json OUT] BINARY [BASELINE_BINARY]

    Without BASELINE_BINARY, baseline_runtime.c is compiled with ``gcc -O2`` and cached
    under .local/bench/ (keyed by a hash of the source).

Exit status: 0 ok; 1 a run of BINARY failed; 3 only baseline runs failed;
2 usage error or baseline build failure; 130 interrupted.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
from runtime_stub import RuntimeStub  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
BASELINE_SRC = HERE / "baseline_runtime.c"
CACHE_DIR = REPO / ".local" / "bench"

MIN_PATH = "/usr/local/bin:/usr/bin:/bin"
BASE_ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "bench",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
    "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/bench",
    "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "_HANDLER": "bootstrap",
    "PATH": MIN_PATH,
}
EXIT_GRACE_S = 0.2  # after the process exits, how long a /next already sent may take to land
KILL_WAIT_S = 2.0  # after SIGKILL, how long we wait to reap
OUTPUT_TAIL = 600  # bytes of a failed run's output shown


# --------------------------------------------------------------------------------------
# Signals: Ctrl-C / SIGTERM / SIGHUP become KeyboardInterrupt, except while a child is
# being spawned - then they are deferred until its pid is known, so it is never leaked.
# --------------------------------------------------------------------------------------
class _Signals:
    def __init__(self) -> None:
        self.critical = False
        self.pending: int | None = None

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) is not signal.SIG_IGN:  # respect nohup / background jobs
                signal.signal(sig, self._handler)

    def _handler(self, signum: int, frame: object) -> None:
        if self.critical:
            self.pending = signum
            return
        raise KeyboardInterrupt(signal.Signals(signum).name)

    def leave_critical(self) -> None:
        self.critical = False
        if self.pending is not None:
            signum, self.pending = self.pending, None
            raise KeyboardInterrupt(signal.Signals(signum).name)


SIGNALS = _Signals()


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the child's process group (it leads its own session) and reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.kill()
    except OSError:
        pass
    try:
        proc.wait(timeout=KILL_WAIT_S)
    except subprocess.TimeoutExpired:
        print(f"warning: pid {proc.pid} did not die within {KILL_WAIT_S}s of SIGKILL", file=sys.stderr)


# --------------------------------------------------------------------------------------
# One run
# --------------------------------------------------------------------------------------
@dataclass
class Run:
    role: str  # "binary" | "baseline"
    index: int  # 1-based, counted separately for warm-up and measured runs
    warmup: bool
    init_ms: float | None = None  # None = failed
    error: str | None = None
    output_tail: str = ""


def run_once(role: str, index: int, warmup: bool, exe: str, env_extra: dict[str, str], timeout: float) -> Run:
    result = Run(role=role, index=index, warmup=warmup)
    proc: subprocess.Popen | None = None
    with RuntimeStub(hold_timeout=timeout + 5.0) as stub, tempfile.TemporaryFile() as out:
        env = dict(BASE_ENV)
        env.update(env_extra)
        if "AWS_REGION" in env_extra and "AWS_DEFAULT_REGION" not in env_extra:
            env["AWS_DEFAULT_REGION"] = env_extra["AWS_REGION"]
        env["AWS_LAMBDA_RUNTIME_API"] = stub.address
        try:
            SIGNALS.critical = True
            t0 = time.monotonic()
            try:
                proc = subprocess.Popen(
                    [exe],
                    env=env,
                    cwd="/",
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    close_fds=True,
                )
            except OSError as e:
                result.error = f"cannot exec: {e}"
                return result
            finally:
                SIGNALS.leave_critical()

            deadline = t0 + timeout
            arrived = False
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                if stub.wait(min(0.05, remaining)):
                    arrived = True
                    break
                if proc.poll() is not None:  # exited without asking for work
                    arrived = stub.wait(EXIT_GRACE_S)
                    break

            t1 = stub.first_next_at
            errors = stub.init_errors
            if errors:
                e = errors[0]
                result.error = f"POST init/error type={e.error_type!r}: {e.body[:300]}"
            elif t1 is not None:
                result.init_ms = (t1 - t0) * 1000.0
            elif proc.poll() is not None:
                result.error = f"exited with status {proc.returncode} before GET /invocation/next"
            elif not arrived:
                result.error = f"no GET /invocation/next within {timeout:g}s"
            else:
                result.error = "stub woke without a request (bug)"
        finally:
            if proc is not None:
                SIGNALS.critical = True  # a second Ctrl-C must not abort the kill
                try:
                    _kill_group(proc)
                finally:
                    SIGNALS.leave_critical()
        if result.error is not None:
            out.seek(0, os.SEEK_END)
            size = out.tell()
            out.seek(max(0, size - OUTPUT_TAIL))
            result.output_tail = out.read().decode("utf-8", "replace")
    return result


# --------------------------------------------------------------------------------------
# Baseline build
# --------------------------------------------------------------------------------------
def build_baseline() -> str:
    """Compile baseline_runtime.c once per source version; return the cached binary's path."""
    src = BASELINE_SRC.read_bytes()
    digest = hashlib.sha256(src).hexdigest()[:12]
    cached = CACHE_DIR / f"baseline_runtime-{digest}"
    if cached.is_file() and os.access(cached, os.X_OK):
        return str(cached)
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        print("error: no gcc/cc to build the baseline; pass BASELINE_BINARY", file=sys.stderr)
        sys.exit(2)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="coldstart-") as tmp:
        tmp_bin = Path(tmp) / "baseline_runtime"
        cmd = [gcc, "-O2", "-o", str(tmp_bin), str(BASELINE_SRC)]
        try:
            subprocess.run(cmd, check=True, timeout=120, stdin=subprocess.DEVNULL)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
            print(f"error: building the baseline failed: {e}", file=sys.stderr)
            sys.exit(2)
        staged = CACHE_DIR / f".{cached.name}.{os.getpid()}"
        shutil.copy2(tmp_bin, staged)
        os.replace(staged, cached)  # atomic: concurrent builders never see a partial file
    print(f"built baseline: {cached}", file=sys.stderr)
    return str(cached)


# --------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------
def percentile(samples: list[float], p: float) -> float:
    """Linear-interpolation percentile (numpy's default, = statistics 'inclusive')."""
    s = sorted(samples)
    if len(s) == 1:
        return s[0]
    k = (len(s) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


@dataclass
class Summary:
    role: str
    path: str
    runs: int
    ok: int
    failed: int
    median_ms: float | None
    p90_ms: float | None
    min_ms: float | None
    max_ms: float | None
    samples_ms: list[float] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)


def summarize(role: str, path: str, runs: list[Run]) -> Summary:
    measured = [r for r in runs if not r.warmup]
    samples = [r.init_ms for r in measured if r.init_ms is not None]
    bad = [r for r in runs if r.error is not None]  # warm-up failures count as failures too
    return Summary(
        role=role,
        path=path,
        runs=len(measured),
        ok=len(samples),
        failed=len(bad),
        median_ms=statistics.median(samples) if samples else None,
        p90_ms=percentile(samples, 90) if samples else None,
        min_ms=min(samples) if samples else None,
        max_ms=max(samples) if samples else None,
        samples_ms=[round(x, 4) for x in samples],
        failures=[
            {"run": r.index, "warmup": r.warmup, "error": r.error, "output_tail": r.output_tail} for r in bad
        ],
    )


def _fmt(x: float | None, nd: int = 2) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


def print_report(binary: Summary, baseline: Summary, ratio: float | None, delta: float | None) -> None:
    rows = [("", "runs", "ok", "median ms", "p90 ms", "min ms", "max ms")]
    for s in (binary, baseline):
        rows.append(
            (
                f"{s.role}: {s.path}",
                str(s.runs),
                str(s.ok),
                _fmt(s.median_ms),
                _fmt(s.p90_ms),
                _fmt(s.min_ms),
                _fmt(s.max_ms),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for n, r in enumerate(rows):
        cells = [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]
        print("  ".join(cells))
        if n == 0:
            print("  ".join("-" * w for w in widths))
    print()
    print(f"ratio median(binary)/median(baseline): {_fmt(ratio, 3)}")
    print(f"delta median(binary)-median(baseline): {_fmt(delta)} ms")
    for s in (binary, baseline):
        for f in s.failures:
            which = f"warm-up {f['run']}" if f["warmup"] else f"run {f['run']}"
            print(f"\nFAILED {s.role} {which}: {f['error']}", file=sys.stderr)
            if f["output_tail"].strip():
                print("  output tail:\n    " + f["output_tail"].rstrip().replace("\n", "\n    "), file=sys.stderr)


# --------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------
def parse_env(pairs: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for p in pairs:
        key, sep, val = p.partition("=")
        if not sep or not key:
            raise ValueError(f"--env expects KEY=VAL, got {p!r}")
        if key == "AWS_LAMBDA_RUNTIME_API":
            raise ValueError("--env: AWS_LAMBDA_RUNTIME_API is set by the harness")
        env[key] = val
    return env


def check_exe(path: str) -> str:
    p = Path(path)
    if not p.is_file() or not os.access(p, os.X_OK):
        raise ValueError(f"not an executable file: {path}")
    return str(p.resolve())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Measure exec -> first GET /invocation/next of a Lambda binary against a baseline.",
        epilog="See the module docstring (top of this file) for what is measured and why.",
    )
    ap.add_argument("binary", help="function binary (e.g. target/lambda/webhook/bootstrap)")
    ap.add_argument("baseline", nargs="?", help="baseline binary (default: build baseline_runtime.c)")
    ap.add_argument("--runs", type=int, default=30, help="measured runs per binary (default 30)")
    ap.add_argument("--warmup", type=int, default=1, help="discarded runs per binary first (default 1)")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for /next (default 10)")
    ap.add_argument("--env", action="append", default=[], metavar="KEY=VAL", help="extra env for both binaries")
    ap.add_argument("--json", metavar="OUT", help="write the figures as JSON to OUT")
    ap.add_argument("-q", "--quiet", action="store_true", help="no per-run progress on stderr")
    args = ap.parse_args(argv)
    if args.runs < 1 or args.warmup < 0 or not 0 < args.timeout <= 600:
        ap.error("--runs >= 1, --warmup >= 0, 0 < --timeout <= 600")

    try:
        env_extra = parse_env(args.env)
        binary = check_exe(args.binary)
        baseline = check_exe(args.baseline) if args.baseline else None
    except ValueError as e:
        ap.error(str(e))
    if baseline is None:
        baseline = build_baseline()

    SIGNALS.install()
    # The stub's handler thread timestamps /next; never let it queue for the GIL behind
    # the main thread for the default 5 ms switch interval.
    sys.setswitchinterval(0.0005)
    load = os.getloadavg()
    ncpu = os.cpu_count() or 1
    if load[0] > ncpu * 0.75:
        print(
            f"note: load average {load[0]:.2f} on {ncpu} CPUs - absolute figures will be noisy; "
            "the interleaved ratio is the more robust number",
            file=sys.stderr,
        )

    results: dict[str, list[Run]] = {"binary": [], "baseline": []}
    exes = {"binary": binary, "baseline": baseline}
    total = args.warmup + args.runs
    try:
        for i in range(total):
            warm = i < args.warmup
            n = i + 1 if warm else i - args.warmup + 1
            order = ("binary", "baseline") if i % 2 == 0 else ("baseline", "binary")
            for role in order:
                r = run_once(role, n, warm, exes[role], env_extra, args.timeout)
                results[role].append(r)
                if not args.quiet:
                    what = f"{r.init_ms:8.2f} ms" if r.init_ms is not None else f"FAILED ({r.error})"
                    label = f"warm-up {n}" if warm else f"run {n}/{args.runs}"
                    print(f"  {label:>12} {role:<8} {what}", file=sys.stderr)
    except KeyboardInterrupt as e:
        print(f"\ninterrupted ({e or 'SIGINT'}); every spawned process has been killed", file=sys.stderr)
        return 130

    s_bin = summarize("binary", binary, results["binary"])
    s_base = summarize("baseline", baseline, results["baseline"])
    ratio = delta = None
    if s_bin.median_ms is not None and s_base.median_ms:
        ratio = s_bin.median_ms / s_base.median_ms
        delta = s_bin.median_ms - s_base.median_ms
    print_report(s_bin, s_base, ratio, delta)

    if args.json:
        doc = {
            "measure": "ms from just before Popen (exec) to first GET /2018-06-01/runtime/invocation/next",
            "binary": asdict(s_bin),
            "baseline": asdict(s_base),
            "ratio_median": ratio,
            "delta_median_ms": delta,
            "config": {
                "runs": args.runs,
                "warmup": args.warmup,
                "timeout_s": args.timeout,
                "env": {**BASE_ENV, **env_extra},
                "percentile": "linear interpolation",
            },
            "host": {
                "cpus": ncpu,
                "loadavg_start": load,
                "loadavg_end": os.getloadavg(),
                "kernel": platform.release(),
                "python": platform.python_version(),
            },
        }
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(doc, indent=2) + "\n")

    if s_bin.failed:
        return 1
    if s_base.failed:
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
