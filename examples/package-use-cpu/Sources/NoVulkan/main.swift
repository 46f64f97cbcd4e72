// Without the Vulkan trait, asking for Vulkan is a thrown error, and `.auto` says why it runs on the CPU.
import Vonnx

do {
    _ = try Session(path: "model.onnx", options: SessionOptions(backend: .vulkan))
    print("a .vulkan session was made")
} catch {
    print("vulkan: \(error)")
}
print("auto: \(try Session(path: "model.onnx").fallbackReason ?? "no reason")")
