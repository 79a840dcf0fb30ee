#!/usr/bin/env python3
"""Prints the `make bench` table from criterion's estimates, the cold-start JSON, the calls log
and the release binaries, each figure beside its target and, where there is one, its baseline."""

import argparse
import json
import os
import re
import sys


def criterion_ns(root, group, bench):
    path = os.path.join(root, group, bench, "new", "estimates.json")
    with open(path) as f:
        est = json.load(f)
    return est["median"]["point_estimate"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--criterion", required=True)
    ap.add_argument("--coldstart", required=True)
    ap.add_argument("--calls", required=True)
    ap.add_argument("--binary", action="append", default=[])
    ap.add_argument("--sizes", help="sizes.py JSON of this tree")
    ap.add_argument("--sizes-base", help="sizes.py JSON of the baseline ref")
    ap.add_argument("--coldstart-base", help="coldstart.py JSON of the baseline ref's webhook")
    args = ap.parse_args()

    rows = []
    targets = {"slack": 60.0, "discord": 100.0}
    for group in ("slack", "discord"):
        ns = criterion_ns(args.criterion, group, "accept_and_serialize")
        base = criterion_ns(args.criterion, group, "baseline_json_parse")
        us = ns / 1000.0
        rows.append((f"{group} ingest CPU (verify+key+WorkItem)", f"{us:.1f} µs",
                     f"≤ {targets[group]:.0f} µs", f"{ns / base:.2f}× JSON parse ({base / 1000:.1f} µs)",
                     "ok" if us <= targets[group] else "OVER"))

    with open(args.coldstart) as f:
        cold = json.load(f)
    binary, baseline = cold["binary"], cold["baseline"]
    med = binary.get("median_ms")
    if med is None:
        rows.append(("webhook init (exec → first /next)", "failed", "≤ 25 ms", "", "FAIL"))
    else:
        ratio = ""
        if baseline.get("median_ms"):
            ratio = f"{cold['ratio_median']:.2f}× minimal C runtime ({baseline['median_ms']:.2f} ms)"
        rows.append(("webhook init (exec → first /next)", f"{med:.2f} ms (p90 {binary['p90_ms']:.2f})",
                     "≤ 25 ms", ratio, "ok" if med <= 25 else "OVER"))

    if args.coldstart_base:
        with open(args.coldstart_base) as f:
            base = json.load(f)
        if base["binary"].get("median_ms") and med:
            b = base["binary"]["median_ms"]
            rows.append((f"webhook init, baseline {base.get('ref', 'ref')}", f"{b:.2f} ms",
                         "", f"now {med / b:.2f}× the baseline's", ""))

    if args.sizes:
        with open(args.sizes) as f:
            sizes = json.load(f)["functions"]
        base_sizes = {}
        if args.sizes_base:
            with open(args.sizes_base) as f:
                based = json.load(f)
            base_sizes = based["functions"]
        for name, s in sorted(sizes.items()):
            was = base_sizes.get(name)
            vs = f"was {was['zip'] / 1e6:.2f} MB ({s['zip'] / was['zip']:.2f}×)" if was else ""
            target = "≤ 4 MB" if name == "webhook" else ""
            verdict = ("ok" if s["zip"] <= 4e6 else "OVER") if name == "webhook" else ""
            rows.append((f"arm64 zip {name} (binary {s['binary'] / 1e6:.1f} MB)",
                         f"{s['zip'] / 1e6:.2f} MB", target, vs, verdict))

    for path in args.binary:
        size = os.path.getsize(path)
        rows.append((f"release binary {os.path.basename(path)}", f"{size / 1e6:.1f} MB", "", "", ""))

    text = open(args.calls).read()
    m = re.search(r"calls per accepted webhook: dynamodb=([\d.]+) sqs=([\d.]+)", text)
    if m:
        d, s = float(m.group(1)), float(m.group(2))
        ok = "ok" if d == 1 and s == 1 else "OVER"
        rows.append(("DynamoDB / SQS calls per accepted webhook", f"{d:g} write / {s:g} send",
                     "1 / 1", "", ok))
    else:
        rows.append(("DynamoDB / SQS calls per accepted webhook", "not measured", "1 / 1", "", "FAIL"))

    widths = [max(len(str(r[i])) for r in rows + [("measure", "figure", "target", "baseline", "")]) for i in range(5)]
    header = ("measure", "figure", "target", "vs baseline (same run)", "")
    print()
    print("  ".join(str(h).ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    return 0 if all(r[4] != "FAIL" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
