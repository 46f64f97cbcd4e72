#!/usr/bin/env python3
"""onnxruntime side of `onnx-bench --compare-ort`: a line protocol on stdin/stdout so the
benchmark can alternate single runs of Vonnx and onnxruntime (drift hits both alike).

    ort_bridge.py MODEL THREADS    -> "ready CREATE_MS FIRST_RUN_MS" after the first run,
                                       or "unavailable REASON" when onnxruntime is missing
    feed NAME PATH.npy             -> "ok"   (send every input before "start")
    start                          -> "ready CREATE_MS FIRST_RUN_MS"
    run                            -> "MS"   (one timed run)
    save DIR                       -> "N"    (outputs written as DIR/output_<i>.npy)
    peak                           -> "PEAK BASELINE" (this process's peak resident memory, and its
                                       resident memory before the session was created; bytes, 0 if unknown)
    quit
"""
import sys, time

def status_bytes(field):
    """A kB field of /proc/self/status (Linux: VmHWM, VmRSS), in bytes; 0 if unknown."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0

def main():
    try:
        import numpy as np
        import onnxruntime as ort
    except ImportError as e:
        print(f"unavailable {e}", flush=True)
        return
    model, threads = sys.argv[1], int(sys.argv[2])
    feeds, session, baseline = {}, None, 0
    for line in sys.stdin:
        cmd, *args = line.split()
        if cmd == "feed":
            feeds[args[0]] = np.load(args[1]); print("ok", flush=True)
        elif cmd == "start":
            so = ort.SessionOptions()
            so.intra_op_num_threads = threads
            so.inter_op_num_threads = 1
            # idle intra-op threads would spin into the Vonnx run that follows (measured: no cost to onnxruntime)
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            baseline = status_bytes("VmRSS")
            t = time.perf_counter()
            session = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
            create = (time.perf_counter() - t) * 1e3
            t = time.perf_counter()
            session.run(None, feeds)
            first = (time.perf_counter() - t) * 1e3
            print(f"ready {create:.3f} {first:.3f} {ort.__version__}", flush=True)
        elif cmd == "run":
            t = time.perf_counter()
            session.run(None, feeds)
            print(f"{(time.perf_counter() - t) * 1e3:.4f}", flush=True)
        elif cmd == "save":
            outs = session.run(None, feeds)
            for i, o in enumerate(outs):
                np.save(f"{args[0]}/output_{i}.npy", o)
            print(len(outs), flush=True)
        elif cmd == "peak":
            print(status_bytes("VmHWM"), baseline, flush=True)
        elif cmd == "quit":
            return

if __name__ == "__main__":
    main()
