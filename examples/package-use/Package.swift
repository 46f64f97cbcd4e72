// swift-tools-version:6.1
// A package that uses Vonnx as the getting-started article says. scripts/test-package-use.sh
// copies it beside a `vonnx` link to the checkout and makes each target's main.swift from the
// Swift blocks of the DocC article of its name (Sources/Vonnx/Vonnx.docc).
import PackageDescription

let package = Package(
    name: "PackageUse",
    dependencies: [.package(path: "../vonnx")],
    targets: ["GettingStarted", "BatchAndFarmUse", "BackendsAndFallback"].map {
        .executableTarget(name: $0, dependencies: [.product(name: "Vonnx", package: "vonnx")])
    }
)
