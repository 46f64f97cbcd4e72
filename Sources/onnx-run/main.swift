print("onnx-run")
