"""Writes the ONNX backend node tests that the installed onnx release (1.23) defines but the
onnx 1.22.0 wheel's data lacks: tests of new ops, and tests whose op version changed (their
model imports another opset). Run with an onnx 1.23 environment (scripts/setup.sh makes
.testdata/venv-onnx123); the cases are onnx's own generators (onnx/backend/test/case/node),
written in the wheel's layout: OUT_DIR/node/<test>/model.onnx + test_data_set_0/*.pb.

The generators draw many inputs from numpy's global random state without a seed: it is seeded
here before they are imported, so the same onnx and numpy write the same files.

usage: make_newer_node_tests.py OUT_DIR ONNX_1_22_DATA_DIR
"""
import argparse
import os
import sys

import numpy as np

np.random.seed(0)
import onnx  # noqa: E402
import onnx.backend.test.case.model as model_cases  # noqa: E402
from onnx.backend.test import cmd_tools  # noqa: E402
from onnx.backend.test.case import node as node_cases  # noqa: E402


def opsets(model):
    return sorted((o.domain or "ai.onnx", o.version) for o in model.opset_import)


def main():
    out, old = sys.argv[1], os.path.join(sys.argv[2], "node")
    newer = []
    for case in node_cases.collect_testcases():
        path = os.path.join(old, case.name, "model.onnx")
        if not os.path.exists(path) or opsets(onnx.load(path)) != opsets(case.model):
            newer.append(case)
    # cmd_tools.generate_data writes every case model_cases lists: hand it only these
    model_cases.collect_testcases = lambda: newer
    cmd_tools.generate_data(argparse.Namespace(output=out))
    print(f"{len(newer)} node tests of onnx {onnx.__version__} that the 1.22 data lacks, in {out}/node")


if __name__ == "__main__":
    main()
