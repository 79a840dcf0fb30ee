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
