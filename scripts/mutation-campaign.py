#!/usr/bin/env python3
"""Mutation campaign over small seed models (issue 15): every mutated file must load, or be
refused, with a one-line error: never a crash (a signal) nor a hang (the time limit).

    .testdata/venv/bin/python scripts/mutation-campaign.py [--cases N] [--timeout S] [--jobs J]

Seeds are tiny models made here with onnx.helper (Conv, Reshape, Concat, Expand, Tile,
ConstantOfShape, Gemm, If, Loop, Scan, a sequence input). Classes of mutation, N cases each:
  flip      1-8 random bytes XOR'd with random values
  truncate  the file cut at a random offset
  field     one number in the parsed model (a dim, an attribute int, an int64
            initializer, an opset or ir_version) set to an extreme value
  nest      If subgraphs or sequence types nested 10-100,000 deep
Each case runs `onnx-run MODEL --random --backend cpu --threads 1` under a time limit.
Prints the counts per class (with the cases slower than --slow and the slowest time) and exits
1 on any crash, hang or multi-line error (reproducers, and the slow cases, kept in --keep).
"""
import argparse, os, random, shutil, subprocess, sys, tempfile, time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXTREMES = [0, -1, -2, 1, 2**31 - 1, 2**31, 2**32, 2**62, 2**63 - 1, -(2**63), 100_000, 70_000]


def model(nodes, inputs, outputs, inits=(), opset=17):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def vi(name, dims, t=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, t, dims)


def i64(name, values):
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def seeds():
    x4 = vi("x", [1, 2, 8, 8])
    w = numpy_helper.from_array(np.ones((3, 2, 3, 3), np.float32), "w")
    out = [vi("y", None)]
    yield model([helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1], strides=[1, 1])], [x4], out, [w])
    yield model([helper.make_node("Reshape", ["x", "s"], ["y"])], [x4], out, [i64("s", [2, -1])])
    yield model([helper.make_node("Concat", ["x", "x"], ["y"], axis=1)], [x4], out)
    yield model([helper.make_node("Expand", ["x", "s"], ["y"])], [vi("x", [1, 4])], out, [i64("s", [3, 4])])
    yield model([helper.make_node("Tile", ["x", "r"], ["y"])], [vi("x", [2, 3])], out, [i64("r", [2, 2])])
    yield model([helper.make_node("ConstantOfShape", ["s"], ["y"])], [], out, [i64("s", [2, 3])])
    yield model([helper.make_node("Gemm", ["x", "b"], ["y"], transB=1)], [vi("x", [2, 4])], out,
                [numpy_helper.from_array(np.ones((3, 4), np.float32), "b")])
    then = helper.make_graph([helper.make_node("Relu", ["x"], ["t"])], "then", [], [vi("t", None)])
    other = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else", [], [vi("e", None)])
    yield model([helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
                 helper.make_node("Greater", ["s", "z"], ["c"]),
                 helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)],
                [vi("x", [3])], out, [numpy_helper.from_array(np.array(0, np.float32), "z")])
    body = helper.make_graph([helper.make_node("Identity", ["cond"], ["cond_out"]),
                              helper.make_node("Concat", ["v", "v"], ["v_out"], axis=0)], "body",
                             [vi("i", [], TensorProto.INT64), vi("cond", [], TensorProto.BOOL), vi("v", None)],
                             [vi("cond_out", [], TensorProto.BOOL), vi("v_out", None)])
    yield model([helper.make_node("Loop", ["m", "c", "x"], ["y"], body=body)], [vi("x", [1])], out,
                [i64("m", 3), numpy_helper.from_array(np.array(True), "c")])
    sbody = helper.make_graph([helper.make_node("Add", ["s", "e"], ["s2"]), helper.make_node("Identity", ["s2"], ["o"])],
                              "sbody", [vi("s", [2]), vi("e", [2])], [vi("s2", [2]), vi("o", [2])])
    yield model([helper.make_node("Scan", ["init", "x"], ["y", "z"], body=sbody, num_scan_inputs=1)],
                [vi("init", [2]), vi("x", [4, 2])], [vi("y", None), vi("z", None)])
    seq = helper.make_tensor_sequence_value_info("s", TensorProto.FLOAT, None)
    yield model([helper.make_node("SequenceLength", ["s"], ["y"])], [seq], out)


def field_mutation(m, rng):
    """Sets one number of the model to an extreme value."""
    m = onnx.ModelProto.FromString(m.SerializeToString())
    g = m.graph
    targets = []
    for v in list(g.input) + list(g.output):
        for d in v.type.tensor_type.shape.dim:
            targets.append(("dim", d))
    for n in g.node:
        for a in n.attribute:
            if a.type == onnx.AttributeProto.INT:
                targets.append(("attr", a))
            elif a.type == onnx.AttributeProto.INTS and a.ints:
                targets.append(("attrs", a))
    for t in g.initializer:
        if t.data_type == TensorProto.INT64:
            targets.append(("init", t))
    targets += [("opset", m.opset_import[0]), ("ir", m)]
    kind, target = rng.choice(targets)
    value = rng.choice(EXTREMES)
    if kind == "dim":
        target.dim_value = value
    elif kind == "attr":
        target.i = value
    elif kind == "attrs":
        target.ints[rng.randrange(len(target.ints))] = value
    elif kind == "init":
        a = numpy_helper.to_array(target).copy().reshape(-1)
        if a.size:
            a[rng.randrange(a.size)] = value
        target.CopyFrom(numpy_helper.from_array(a.reshape(numpy_helper.to_array(target).shape), target.name))
    elif kind == "opset":
        target.version = value
    else:
        target.ir_version = value
    return m.SerializeToString()


def varint(n):
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number, payload):
    """A length-delimited protobuf field (numbers below 16)."""
    return bytes([number << 3 | 2]) + varint(len(payload)) + payload


def nested(rng):
    """If subgraphs or sequence types nested deep, as raw protobuf bytes built in linear
    time: prefixes outside-in, the core, suffixes inside-out."""
    depth = rng.choice([10, 100, 200, 1000, 10_000, 100_000])
    prefixes, suffixes = [], []
    if rng.random() < 0.5:
        core = field(1, field(4, b"Identity") + field(1, b"x") + field(2, b"y")) + field(12, field(1, b"y"))
        node_head = field(1, b"c") + field(2, b"y") + field(4, b"If")
        attr_head = field(1, b"then_branch") + bytes([0xA0, 0x01, 5])  # type (field 20) = GRAPH
        tail = field(12, field(1, b"y"))
        inner = len(core)
        for _ in range(depth):
            attr = len(attr_head) + 1 + len(varint(inner)) + inner
            node = len(node_head) + 1 + len(varint(attr)) + attr
            prefixes.append(bytes([1 << 3 | 2]) + varint(node) + node_head + bytes([5 << 3 | 2]) + varint(attr)
                            + attr_head + bytes([6 << 3 | 2]) + varint(inner))
            suffixes.append(tail)
            inner = 1 + len(varint(node)) + node + len(tail)
        graph = b"".join(reversed(prefixes)) + core + b"".join(suffixes)
    else:
        core = field(1, bytes([8, 1]))  # tensor_type { elem_type: FLOAT }
        inner = len(core)
        for _ in range(depth):
            seq = 1 + len(varint(inner)) + inner
            prefixes.append(bytes([4 << 3 | 2]) + varint(seq) + bytes([1 << 3 | 2]) + varint(inner))
            inner = 1 + len(varint(seq)) + seq
        t = b"".join(reversed(prefixes)) + core
        graph = field(11, field(1, b"x") + field(2, t)) + field(12, field(1, b"x"))
    return bytes([8, 8]) + field(8, bytes([16, 17])) + field(7, graph)


def mutate(kind, seed_bytes, seed_model, rng):
    if kind == "flip":
        b = bytearray(seed_bytes)
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] ^= rng.randint(1, 255)
        return bytes(b)
    if kind == "truncate":
        return seed_bytes[: rng.randrange(len(seed_bytes))]
    if kind == "field":
        return field_mutation(seed_model, rng)
    return nested(rng)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=750, help="cases per class (default 750: 3000 in all)")
    ap.add_argument("--timeout", type=float, default=20)
    ap.add_argument("--slow", type=float, default=5, help="seconds past which a case counts as slow (not a failure)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--keep", default=os.path.join(ROOT, ".build", "mutation-failures"))
    ap.add_argument("--bin", default=os.path.join(ROOT, ".build", "release", "onnx-run"))
    args = ap.parse_args()
    models = list(seeds())
    blobs = [m.SerializeToString() for m in models]
    tmp = tempfile.mkdtemp()
    rng = random.Random(args.seed)
    cases = []
    for kind in ["flip", "truncate", "field", "nest"]:
        for i in range(args.cases):
            s = rng.randrange(len(models))
            path = os.path.join(tmp, f"{kind}-{i}.onnx")
            with open(path, "wb") as f:
                f.write(mutate(kind, blobs[s], models[s], rng))
            cases.append((kind, path))

    def run(case):
        kind, path = case
        start = time.monotonic()
        try:
            p = subprocess.run([args.bin, path, "--random", "--backend", "cpu", "--threads", "1"],
                               capture_output=True, timeout=args.timeout)
        except subprocess.TimeoutExpired:
            return kind, path, "hang", "", args.timeout
        seconds = time.monotonic() - start
        err = p.stderr.decode(errors="replace").strip()
        if p.returncode < 0 or p.returncode >= 128:
            return kind, path, "crash", err[-300:], seconds
        if p.returncode != 0 and len(err.splitlines()) != 1:
            return kind, path, "multi-line error", err[-300:], seconds
        return kind, path, "ok" if p.returncode == 0 else "refused", "", seconds

    counts = {}
    slowest = {}
    bad = []
    with ThreadPoolExecutor(args.jobs) as pool:
        for kind, path, outcome, err, seconds in pool.map(run, cases):
            counts.setdefault(kind, {}).setdefault(outcome, 0)
            counts[kind][outcome] += 1
            slow = seconds > args.slow and outcome != "hang"
            if slow:
                counts[kind]["slow"] = counts[kind].get("slow", 0) + 1
            slowest[kind] = max(slowest.get(kind, 0), seconds)
            if outcome in ("crash", "hang", "multi-line error") or slow:
                os.makedirs(args.keep, exist_ok=True)
                shutil.copy(path, args.keep)
                bad.append((kind, os.path.basename(path), f"{outcome} in {seconds:.1f} s" if slow else outcome, err))
    shutil.rmtree(tmp)
    for kind, c in counts.items():
        print(f"{kind:9} " + "  ".join(f"{k}: {v}" for k, v in sorted(c.items())) + f"  slowest: {slowest[kind]:.1f} s")
    for kind, name, outcome, err in bad[:20]:
        print(f"{outcome}: {kind} {name} (kept in {args.keep}): {err}")
    crashes = sum(c.get("crash", 0) + c.get("hang", 0) + c.get("multi-line error", 0) for c in counts.values())
    print(f"mutation campaign: {len(cases)} cases, {crashes} crash(es)/hang(s)/multi-line error(s)")
    sys.exit(1 if crashes else 0)


if __name__ == "__main__":
    main()
