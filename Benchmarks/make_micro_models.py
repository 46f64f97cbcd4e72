#!/usr/bin/env python3
"""Write the Vulkan micro benchmarks of issue 17 as small ONNX models, one op each, seeded
random weights, and print each model's GFLOP per run (2 x MACs):

  conv3x3.onnx  Conv 3x3 256->256 on 14x14, pad 1      input x [1,256,14,14]
  conv1x1.onnx  Conv 1x1 1024->256 on 14x14            input x [1,1024,14,14]
  gemm1024.onnx Gemm 1024x1024x1024                    input a [1024,1024]
  gemv.onnx     Gemm M=1, 2048->1000, transB=1 + bias  input a [1,2048]
  fewpixels.onnx a voice model's 1-D conv stack on 4 frames and fewer: Conv 1->258 kernel 256
                stride 128, then 3-tap Convs 258->128, 128->64 stride 2, 64->64 stride 2,
                64->128, each + Relu                   input x [1,1,640]

Usage: make_micro_models.py OUT_DIR   (needs onnx and numpy), then e.g.
  onnx-bench OUT_DIR/conv3x3.onnx --backends vulkan --device llvmpipe --runs 5
and divide the printed GFLOP by the median."""
import os
import sys
import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto


def model(name, node, inputs, inits, output_shape):
    graph = helper.make_graph([node], name, [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, output_shape)],
                              [numpy_helper.from_array(a, n) for n, a in inits])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def conv_stack(name, x_shape, layers, rng):
    """A chain of 1-D Conv + Relu: layers are (out channels, kernel, stride, pad); returns the
    model and its GFLOP per run."""
    nodes, inits, channels, length, flop, x = [], [], x_shape[1], x_shape[2], 0, "x"
    for i, (m, k, s, pad) in enumerate(layers):
        w = (rng.standard_normal((m, channels, k)) / np.sqrt(channels * k)).astype(np.float32)
        b = (rng.standard_normal(m) * 0.1).astype(np.float32)
        inits += [(f"w{i}", w), (f"b{i}", b)]
        y = "y" if i == len(layers) - 1 else f"h{i}"
        nodes += [helper.make_node("Conv", [x, f"w{i}", f"b{i}"], [f"c{i}"], kernel_shape=[k], strides=[s], pads=[pad, pad]),
                  helper.make_node("Relu", [f"c{i}"], [y])]
        length = (length + 2 * pad - k) // s + 1
        flop += 2 * m * channels * k * length
        channels, x = m, y
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, channels, length])],
                              [numpy_helper.from_array(a, n) for n, a in inits])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), flop


def main(out):
    rng = np.random.default_rng(0)
    w = lambda *s: (rng.standard_normal(s) / np.sqrt(np.prod(s[1:]))).astype(np.float32)
    cases = {
        "conv3x3": (model("conv3x3", helper.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
                          [("x", [1, 256, 14, 14])], [("w", w(256, 256, 3, 3)), ("b", w(256, 1)[:, 0])], [1, 256, 14, 14]),
                    2 * 256 * 256 * 9 * 14 * 14),
        "conv1x1": (model("conv1x1", helper.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[1, 1]),
                          [("x", [1, 1024, 14, 14])], [("w", w(256, 1024, 1, 1)), ("b", w(256, 1)[:, 0])], [1, 256, 14, 14]),
                    2 * 256 * 1024 * 14 * 14),
        "gemm1024": (model("gemm1024", helper.make_node("Gemm", ["a", "w"], ["y"]),
                           [("a", [1024, 1024])], [("w", w(1024, 1024))], [1024, 1024]),
                     2 * 1024 ** 3),
        "gemv": (model("gemv", helper.make_node("Gemm", ["a", "w", "b"], ["y"], transB=1),
                       [("a", [1, 2048])], [("w", w(1000, 2048)), ("b", w(1000, 1)[:, 0])], [1, 1000]),
                 2 * 2048 * 1000),
        "fewpixels": conv_stack("fewpixels", [1, 1, 640], [(258, 256, 128, 0), (128, 3, 1, 1), (64, 3, 2, 1), (64, 3, 2, 1),
                                                          (128, 3, 1, 1)], rng),
    }
    os.makedirs(out, exist_ok=True)
    for name, (m, flop) in cases.items():
        onnx.checker.check_model(m)
        onnx.save(m, os.path.join(out, name + ".onnx"))
        print(f"{name}.onnx {flop / 1e9:.4f} GFLOP")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
