// swift-tools-version:6.1
// The getting-started program against Vonnx without its Vulkan trait: the CPU-only library,
// which builds without the Vulkan and glslang headers and libraries. scripts/test-package-use.sh
// copies it beside a `vonnx` link to the checkout and makes GettingStarted's main.swift from the
// article; NoVulkan asks for the Vulkan backend.
import PackageDescription

let package = Package(
    name: "PackageUseCPU",
    dependencies: [.package(path: "../vonnx", traits: [])],
    targets: ["GettingStarted", "NoVulkan"].map {
        .executableTarget(name: $0, dependencies: [.product(name: "Vonnx", package: "vonnx")])
    }
)
