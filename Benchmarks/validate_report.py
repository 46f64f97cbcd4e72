#!/usr/bin/env python3
"""Checks an `onnx-bench --json` report against the schema in Benchmarks/README.md.
Usage: validate_report.py REPORT.json [--expect-backends cpu,onnxruntime] [--expect-batches 1,2] [--max-relative-l2 1e-4]
With --max-relative-l2, every result after the first of its batch (the reference) must carry its
relative L2 error against that reference, at most the given value."""
import argparse, json, math, sys

REQUIRED = {"backend": str, "device": str, "batch": int, "threads": int, "median_ms": float, "p10_ms": float,
            "p90_ms": float, "min_ms": float, "runs_per_s": float, "items_per_s": float, "create_ms": float,
            "first_run_ms": float, "runs": int}
OPTIONAL = {"create_warm_ms": float, "peak_host_bytes": int, "added_host_bytes": int, "fallback_nodes": int, "relative_l2_error": float,
            "driver": str, "vulkan_version": str, "device_memory_bytes": int, "ratio_to_cpu": float}

def check(report, backends, batches, max_relative_l2=None):
    errors = []
    if report.get("schema") != "vonnx-bench/1":
        errors.append(f"schema is {report.get('schema')!r}")
    rows = report.get("results")
    if not isinstance(rows, list) or not rows:
        return errors + ["results must be a non-empty list"]
    for i, row in enumerate(rows):
        for key, kind in {**REQUIRED, **OPTIONAL}.items():
            if key not in row:
                if key in REQUIRED:
                    errors.append(f"results[{i}] lacks {key}")
                continue
            value = row[key]
            ok = isinstance(value, int) if kind is int else isinstance(value, (int, float)) and not isinstance(value, bool)
            if kind is str:
                ok = isinstance(value, str) and value
            if not ok:
                errors.append(f"results[{i}].{key} = {value!r} is not {kind.__name__}")
        if row.get("backend") not in ("cpu", "vulkan", "onnxruntime"):
            errors.append(f"results[{i}].backend = {row.get('backend')!r}")
        if row.get("backend") == "vulkan":
            for key in ("fallback_nodes", "driver", "vulkan_version", "device_memory_bytes"):
                if key not in row:
                    errors.append(f"results[{i}] (vulkan) lacks {key}")
        if isinstance(row.get("median_ms"), (int, float)):
            if not (row["min_ms"] <= row["median_ms"] <= row["p90_ms"]) or not math.isclose(
                    row["items_per_s"], row["batch"] * 1000 / row["median_ms"], rel_tol=1e-6):
                errors.append(f"results[{i}] statistics are inconsistent")
    if max_relative_l2 is not None:
        references = set()
        for i, row in enumerate(rows):
            if row.get("batch") not in references:
                references.add(row.get("batch"))
                continue
            err = row.get("relative_l2_error")
            if not isinstance(err, (int, float)) or not err <= max_relative_l2:
                errors.append(f"results[{i}] ({row.get('backend')} batch {row.get('batch')}): relative L2 error {err!r}, "
                              f"want at most {max_relative_l2}")
    seen = {(r.get("backend"), r.get("batch")) for r in rows}
    for b in backends:
        for n in batches:
            if (b, n) not in seen:
                errors.append(f"no result for backend {b} at batch {n}")
    return errors

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("report")
    ap.add_argument("--expect-backends", default="cpu")
    ap.add_argument("--expect-batches", default="1")
    ap.add_argument("--max-relative-l2", type=float)
    a = ap.parse_args()
    with open(a.report) as f:
        errors = check(json.load(f), a.expect_backends.split(","), [int(x) for x in a.expect_batches.split(",")],
                       a.max_relative_l2)
    for e in errors:
        print(f"{a.report}: {e}")
    print(f"{a.report}: {'valid' if not errors else 'INVALID'}")
    sys.exit(1 if errors else 0)
