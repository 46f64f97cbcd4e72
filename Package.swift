// swift-tools-version:6.1
import PackageDescription

// Layers, imports pointing down:
//   tools (onnx-run, onnx-conformance) → Vonnx (session) → VonnxCPU | VonnxVulkan | VonnxFormat → VonnxIR
//   C modules: COnnx (protobuf-c), CBLAS (OpenBLAS), CGemm (conv micro-kernel), CVulkan, CGlslang.
let package = Package(
    name: "Vonnx",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Vonnx", targets: ["Vonnx"]),
        .executable(name: "onnx-run", targets: ["onnx-run"]),
        .executable(name: "onnx-conformance", targets: ["onnx-conformance"]),
        .executable(name: "onnx-bench", targets: ["onnx-bench"]),
    ],
    // Without the Vulkan trait (`.package(path:, traits: [])`), the Vonnx library builds without
    // the Vulkan and glslang headers and libraries: CPU only. The tools and tests need the trait.
    traits: [
        .trait(name: "Vulkan", description: "The Vulkan backend (needs the Vulkan and glslang headers and libraries)."),
        .default(enabledTraits: ["Vulkan"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // `swift package generate-documentation --target Vonnx --target VonnxIR --enable-experimental-combined-documentation`
        // (the DocC catalogs in Sources/Vonnx and Sources/VonnxIR, which Vonnx re-exports).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.4.0"),
    ],
    targets: [
        .target(name: "COnnx", linkerSettings: [.linkedLibrary("protobuf-c")]),
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CVulkan", pkgConfig: "vulkan", providers: [.apt(["libvulkan-dev"])]),
        .systemLibrary(name: "CGlslang", providers: [.apt(["glslang-dev"])]),
        .target(name: "VonnxIR"),
        .target(name: "VonnxFormat", dependencies: ["VonnxIR", "COnnx"]),
        // CGemm: the CPU's float32 conv GEMM micro-kernel and direct kernels (AVX2+FMA, chosen at run time).
        .target(name: "CGemm"),
        .target(name: "VonnxCPU", dependencies: ["VonnxIR", "CBLAS", "CGemm"]),
        // glslang's InitProcess/InitThread live in libOGLCompiler.a (which needs OSDependent),
        // not named by CGlslang's module map; listed here, they come after the objects.
        .target(name: "VonnxVulkan", dependencies: ["VonnxIR", "CVulkan", "CGlslang"],
                linkerSettings: [.linkedLibrary("OGLCompiler"), .linkedLibrary("OSDependent")]),
        .target(name: "Vonnx", dependencies: [
            "VonnxIR", "VonnxFormat", "VonnxCPU", .target(name: "VonnxVulkan", condition: .when(traits: ["Vulkan"])),
        ]),
        .executableTarget(name: "onnx-run", dependencies: [
            "Vonnx", "VonnxBatch", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "onnx-conformance", dependencies: [
            "Vonnx", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "onnx-bench", dependencies: [
            "Vonnx", "VonnxFormat", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Benchmarks/onnx-bench"),
        // The fuzz targets: scripts/fuzz.sh builds them with libFuzzer; a plain build replays files.
        .executableTarget(name: "vonnx-fuzz", dependencies: ["Vonnx", "VonnxFormat"]),
        .testTarget(name: "VonnxTests", dependencies: ["Vonnx", "VonnxFormat", "VonnxCPU", "VonnxIR", "VonnxVulkan", "VonnxBatch"]),
        // Batch jobs for onnx-run (render/VFX farms): items, preprocessing, image codecs, pipeline.
        // CImage wraps libpng and libjpeg(-turbo), whose errors longjmp, so it is C, not a module map,
        // and OpenEXR's C API (OpenEXRCore, libopenexr-dev), whose decode/encode pipelines it drives.
        .target(name: "CImage", linkerSettings: [.linkedLibrary("png16"), .linkedLibrary("jpeg"), .linkedLibrary("OpenEXRCore")]),
        .target(name: "VonnxBatch", dependencies: ["Vonnx", "VonnxFormat", "VonnxIR", "CImage"]),
    ],
    swiftLanguageModes: [.v6]
)
