#!/usr/bin/env python3
"""Checks an `onnx-bench --json` report against the schema in Benchmarks/README.md.
Usage: validate_report.py REPORT.json [--expect-backends cpu,onnxruntime] [--expect-batches 1,2]
                          [--expect-models resnet50,vad] [--max-rel-l2 1e-3]
With --max-rel-l2, every timed result after the first of its model and batch (the reference)
must carry its relative L2 error against that reference, at most the given value."""
import argparse, json, math, sys

REQUIRED = {"backend": str, "device": str, "batch": int, "threads": int, "median_ms": float, "p10_ms": float,
            "p90_ms": float, "min_ms": float, "runs_per_s": float, "items_per_s": float, "create_ms": float,
            "first_run_ms": float, "runs": int}
OPTIONAL = {"model": str, "cpu_median_ms": float, "create_warm_ms": float, "peak_host_bytes": int, "added_host_bytes": int, "fallback_nodes": int, "relative_l2_error": float,
            "driver": str, "vulkan_version": str, "device_memory_bytes": int, "ratio_to_cpu": float,
            "vonnx_ratio_median": float, "vonnx_ratio_p10": float, "vonnx_ratio_p90": float}
BACKENDS = ("cpu", "vulkan", "onnxruntime", "ncnn-cpu", "ncnn-vulkan")
# a row whose backend or peer could not run the model says why instead of giving timings
FAILED = {"backend": str, "device": str, "batch": int, "threads": int, "error": str}

def check_type(value, kind):
    if kind is str:
        return isinstance(value, str) and bool(value)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, (int, float)) and not isinstance(value, bool)

def check(report, backends, batches, models=(), max_rel_l2=None):
    errors = []
    if report.get("schema") != "vonnx-bench/1":
        errors.append(f"schema is {report.get('schema')!r}")
    rows = report.get("results")
    if not isinstance(rows, list) or not rows:
        return errors + ["results must be a non-empty list"]
    references = set()
    for i, row in enumerate(rows):
        required = FAILED if "error" in row else REQUIRED
        for key, kind in {**required, **OPTIONAL}.items():
            if key not in row:
                if key in required:
                    errors.append(f"results[{i}] lacks {key}")
                continue
            if not check_type(row[key], kind):
                errors.append(f"results[{i}].{key} = {row[key]!r} is not {kind.__name__}")
        if row.get("backend") not in BACKENDS:
            errors.append(f"results[{i}].backend = {row.get('backend')!r}")
        if "error" in row:
            continue
        if row.get("backend") == "vulkan":
            for key in ("fallback_nodes", "driver", "vulkan_version", "device_memory_bytes"):
                if key not in row:
                    errors.append(f"results[{i}] (vulkan) lacks {key}")
        if isinstance(row.get("median_ms"), (int, float)):
            if not (row["min_ms"] <= row["median_ms"] <= row["p90_ms"]) or not math.isclose(
                    row["items_per_s"], row["batch"] * 1000 / row["median_ms"], rel_tol=1e-6):
                errors.append(f"results[{i}] statistics are inconsistent")
        if max_rel_l2 is not None:
            if (row.get("model"), row.get("batch")) not in references:
                references.add((row.get("model"), row.get("batch")))
            elif not check_type(row.get("relative_l2_error"), float) or not row["relative_l2_error"] <= max_rel_l2:
                errors.append(f"results[{i}] ({row.get('model')}, {row['backend']} batch {row.get('batch')}) disagrees: "
                              f"relative L2 {row.get('relative_l2_error')!r}, want at most {max_rel_l2}")
        if all(check_type(row.get(f"vonnx_ratio_{k}"), float) for k in ("p10", "median", "p90")):
            if not row["vonnx_ratio_p10"] <= row["vonnx_ratio_median"] <= row["vonnx_ratio_p90"]:
                errors.append(f"results[{i}] Vonnx ratios are inconsistent")
    seen = {(r.get("backend"), r.get("batch")) for r in rows}
    for b in backends:
        for n in batches:
            if (b, n) not in seen:
                errors.append(f"no result for backend {b} at batch {n}")
    for m in models:
        if not any(r.get("model") == m for r in rows):
            errors.append(f"no result for model {m}")
    return errors

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("report")
    ap.add_argument("--expect-backends", default="cpu")
    ap.add_argument("--expect-batches", default="1")
    ap.add_argument("--expect-models", default="")
    ap.add_argument("--max-rel-l2", type=float, help="fail when a row's outputs differ more from the first backend's")
    a = ap.parse_args()
    with open(a.report) as f:
        errors = check(json.load(f), a.expect_backends.split(","), [int(x) for x in a.expect_batches.split(",")],
                       [m for m in a.expect_models.split(",") if m], a.max_rel_l2)
    for e in errors:
        print(f"{a.report}: {e}")
    print(f"{a.report}: {'valid' if not errors else 'INVALID'}")
    sys.exit(1 if errors else 0)
