#!/usr/bin/env python3
"""The peer side of `onnx-bench --compare-ort` / `--compare-ncnn`: a line protocol on stdin/stdout
so the benchmark can alternate single runs of Vonnx and another engine (drift hits both alike).

    peer_bridge.py ENGINE MODEL THREADS [DEVICE]
        ENGINE: onnxruntime (CPU provider), ncnn-cpu, or ncnn-vulkan (DEVICE: index or name
        substring of a Vulkan device, default ncnn's); ncnn runs the model pnnx converts
    feed NAME PATH.npy             -> "ok"   (send every input, in the model's order, before "start")
    start                          -> "ready CREATE_MS FIRST_RUN_MS VERSION" after the first run,
                                       or "unavailable REASON" when the engine cannot take the model
    run                            -> "MS"   (one timed run)
    save DIR                       -> "N"    (outputs written as DIR/output_<i>.npy)
    peak                           -> "PEAK BASELINE" (this process's peak resident memory, and its
                                       resident memory before the session was created; bytes, 0 if unknown)
    quit
"""
import hashlib, os, subprocess, sys, time


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


class Unavailable(Exception):
    """The engine cannot take this model; the message says why in one line."""


class OnnxRuntime:
    def __init__(self, model, threads, feeds, device):
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        # idle intra-op threads would spin into the Vonnx run that follows (measured: no cost to onnxruntime)
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session, self.feeds = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"]), feeds
        self.version = f"onnxruntime-{ort.__version__}"

    def run(self):
        return self.session.run(None, self.feeds)


def pnnx_convert(model, feeds):
    """The model converted by pnnx (fp32 weights) for these input shapes: (param, bin) paths,
    cached by model file and shapes under $TMPDIR/vonnx-pnnx."""
    import importlib.util
    spec = importlib.util.find_spec("pnnx")
    if spec is None:
        raise Unavailable("pnnx is not installed")
    exe = os.path.join(os.path.dirname(spec.origin), "pnnx")
    shapes = ",".join("[" + ",".join(map(str, a.shape)) + "]" + ("i64" if a.dtype.kind in "iu" else "") for a in feeds.values())
    st = os.stat(model)
    key = hashlib.sha256(f"{os.path.abspath(model)} {st.st_size} {st.st_mtime_ns} {shapes}".encode()).hexdigest()[:16]
    folder = os.path.join(os.environ.get("TMPDIR", "/tmp"), "vonnx-pnnx", key)
    param, binary = os.path.join(folder, "model.ncnn.param"), os.path.join(folder, "model.ncnn.bin")
    if not os.path.exists(os.path.join(folder, "done")):
        # pnnx writes its intermediates next to the model: give it a link in the cache folder
        os.makedirs(folder, exist_ok=True)
        link = os.path.join(folder, "model.onnx")
        if not os.path.lexists(link):
            os.symlink(os.path.abspath(model), link)
        p = subprocess.run([exe, "model.onnx", f"inputshape={shapes}", "fp16=0"], capture_output=True, text=True, cwd=folder)
        if p.returncode != 0 or not os.path.exists(param):
            tail = [l for l in (p.stdout + p.stderr).splitlines() if l.strip()][-1:] or ["no output"]
            raise Unavailable(f"pnnx failed (exit {p.returncode}): {tail[0][:160]}")
        for name in os.listdir(folder):  # keep only ncnn's files
            if not name.startswith("model.ncnn."):
                os.unlink(os.path.join(folder, name))
        open(os.path.join(folder, "done"), "w").close()
    return param, binary


class Ncnn:
    def __init__(self, model, threads, feeds, device, vulkan):
        # ncnn's OpenMP threads spin after each run and starve the runs alternating with them
        # (measured on 2 busy cores: MobileNetV3 3.7 s a run spinning, 32 ms passive)
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        import numpy as np
        import ncnn
        param, binary = pnnx_convert(model, feeds)
        blobs = open(param).read().split()
        self.inputs = [f"in{i}" for i in range(len(feeds))]
        self.outputs = []
        while f"out{len(self.outputs)}" in blobs:
            self.outputs.append(f"out{len(self.outputs)}")
        if not self.outputs:
            raise Unavailable("pnnx wrote no output blob")
        net = ncnn.Net()
        net.opt.num_threads = threads
        net.opt.use_fp16_packed = net.opt.use_fp16_storage = net.opt.use_fp16_arithmetic = False
        if vulkan:
            gpus = [ncnn.get_gpu_info(i).device_name() for i in range(ncnn.get_gpu_count())]
            index = pick_device(gpus, device) if device else ncnn.get_default_gpu_index()
            net.opt.use_vulkan_compute = True
            net.set_vulkan_device(index)
            self.device_name = gpus[index]
        if net.load_param(param) != 0 or net.load_model(binary) != 0:
            layers = {line.split()[0] for line in open(param).read().splitlines()[2:] if line.strip()}
            unknown = sorted(t for t in layers if ncnn.layer_to_index(t) < 0)
            raise Unavailable(f"ncnn has no layer {', '.join(unknown)} (from pnnx's conversion)" if unknown
                              else "ncnn cannot load pnnx's conversion")
        # ncnn drops the batch dim of 1; ncnn.Mat shares each array's memory: keep them alive
        self.arrays = [np.ascontiguousarray((a[0] if a.ndim > 1 and a.shape[0] == 1 else a).astype(np.float32)) for a in feeds.values()]
        if any(a.ndim > 4 for a in self.arrays):
            raise Unavailable("ncnn takes at most 4-D inputs")
        self.mats = [ncnn.Mat(a) for a in self.arrays]
        self.net, self.np = net, np
        self.version = f"ncnn-{ncnn.__version__}"

    def run(self):
        ex = self.net.create_extractor()
        for name, m in zip(self.inputs, self.mats):
            ex.input(name, m)
        outs = []
        for name in self.outputs:
            rc, m = ex.extract(name)
            if rc != 0:
                raise Unavailable(f"ncnn failed to compute {name} (rc {rc})")
            outs.append(self.np.array(m))
        return outs


def pick_device(names, selector):
    if selector.isdigit() and int(selector) < len(names):
        return int(selector)
    for i, n in enumerate(names):
        if selector.lower() in n.lower():
            return i
    raise Unavailable(f"no ncnn Vulkan device matches '{selector}' (devices: {names})")


ENGINES = {
    "onnxruntime": OnnxRuntime,
    "ncnn-cpu": lambda *a: Ncnn(*a, vulkan=False),
    "ncnn-vulkan": lambda *a: Ncnn(*a, vulkan=True),
}


def main():
    engine, model, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    device = sys.argv[4] if len(sys.argv) > 4 else ""
    try:
        import numpy as np
    except ImportError as e:
        print(f"unavailable {e}", flush=True)
        return
    feeds, peer, baseline = {}, None, 0
    for line in sys.stdin:
        cmd, *args = line.split()
        if cmd == "feed":
            feeds[args[0]] = np.load(args[1]); print("ok", flush=True)
        elif cmd == "start":
            baseline = status_bytes("VmRSS")
            try:
                t = time.perf_counter()
                peer = ENGINES[engine](model, threads, feeds, device)
                create = (time.perf_counter() - t) * 1e3
                t = time.perf_counter()
                peer.run()
                first = (time.perf_counter() - t) * 1e3
            except Exception as e:  # ImportError, Unavailable, or the engine's own refusal
                print("unavailable", " ".join(str(e).split())[:200] or type(e).__name__, flush=True)
                return
            print(f"ready {create:.3f} {first:.3f} {peer.version}", flush=True)
        elif cmd == "run":
            t = time.perf_counter()
            peer.run()
            print(f"{(time.perf_counter() - t) * 1e3:.4f}", flush=True)
        elif cmd == "save":
            outs = peer.run()
            for i, o in enumerate(outs):
                np.save(f"{args[0]}/output_{i}.npy", o)
            print(len(outs), flush=True)
        elif cmd == "peak":
            print(status_bytes("VmHWM"), baseline, flush=True)
        elif cmd == "quit":
            return


if __name__ == "__main__":
    main()
