"""Writes the model the getting-started article's code runs (argv[1]):
inputs x (float32 [batch, 4]) and ids (int64 [batch, 2]); outputs y = x * 0.5 and
count = ReduceSum(ids)."""
import sys

from onnx import TensorProto, helper, save

graph = helper.make_graph(
    [helper.make_node("Mul", ["x", "half"], ["y"]),
     helper.make_node("ReduceSum", ["ids"], ["count"], keepdims=0)],
    "getting-started",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4]),
     helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", 2])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4]),
     helper.make_tensor_value_info("count", TensorProto.INT64, [])],
    [helper.make_tensor("half", TensorProto.FLOAT, [], [0.5])])
save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), sys.argv[1])
