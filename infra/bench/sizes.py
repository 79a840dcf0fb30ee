#!/usr/bin/env python3
"""Builds every Lambda binary of a git ref for Lambda (arm64, release, cargo-lambda zips) and
writes their sizes as JSON: {"ref": …, "functions": {binary: {"zip": bytes, "binary": bytes}}}.

The working tree is measured for `HEAD` (with uncommitted changes); any other ref is checked out
into a worktree of its own under .local/bench/, built with its own target directory, so the
baseline is the same build of older code in the same `make bench` run.
"""

import argparse
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOT_LAMBDAS = {"switchyard", "switchyard-local"}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ref", default="HEAD")
    ap.add_argument("--json", required=True)
    args = ap.parse_args()
    bench = ROOT / ".local" / "bench"
    if args.ref == "HEAD":
        tree, target = ROOT, Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    else:
        tree = bench / f"tree-{args.ref}"
        if not tree.exists():
            subprocess.run(["git", "worktree", "add", "--detach", str(tree), args.ref], cwd=ROOT, check=True)
        target = bench / f"target-{args.ref}"
    bins = sorted(p.stem for p in (tree / "functions/src/bin").glob("*.rs") if p.stem not in NOT_LAMBDAS)
    out_dir = bench / f"lambda-{args.ref}"
    env = dict(os.environ, CARGO_TARGET_DIR=str(target))
    env["PATH"] = f"{ROOT / '.venv/bin'}:{env['PATH']}"
    cmd = ["cargo", "lambda", "build", "--release", "--arm64", "--output-format", "zip",
           "--lambda-dir", str(out_dir)] + [a for b in bins for a in ("--bin", b)]
    print(f"== {args.ref}: cargo lambda build --release --arm64 ({', '.join(bins)})", flush=True)
    subprocess.run(cmd, cwd=tree, env=env, check=True)
    functions = {}
    for b in bins:
        z = out_dir / b / "bootstrap.zip"
        with zipfile.ZipFile(z) as archive:
            binary = sum(i.file_size for i in archive.infolist())
        functions[b] = {"zip": z.stat().st_size, "binary": binary}
    Path(args.json).write_text(json.dumps({"ref": args.ref, "functions": functions}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
