@_exported import VonnxIR
