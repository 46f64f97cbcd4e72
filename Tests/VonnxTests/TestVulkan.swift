import Foundation
import Testing
@testable import Vonnx
import VonnxIR
@testable import VonnxVulkan

/// The validated Vulkan devices the tests use: validation on (any message fails a test) and new
/// buffers poisoned with NaN, so an unwritten output shows. Tests that need them are skipped,
/// with the reason printed, when they cannot be opened; `vulkanTestsCanRun` turns that into a
/// failure where a device must be there (scripts/test.sh sets VONNX_TEST_REQUIRE_VULKAN=1).
///
/// All are opened together, on first use, and never closed. The validation layer of Debian 12
/// (1.3.239) finds its data for an instance or device in a map that it reads without a lock
/// and changes when one is created or destroyed: opening or closing a validated device while
/// another thread uses one crashed the unit tests in CI, and opening devices on 16 threads
/// does it here. So every validated device is one of these; a test that opens or closes a
/// device of its own (cache, selection and lifetime tests) opens it without validation.
enum TestVulkan {
    struct Devices {
        /// Shared by most tests, from many threads at once.
        let shared: VulkanDevice
        /// Through staging buffers, as a discrete GPU's memory is reached.
        let staging: VulkanDevice
        /// Every element one 32-bit word (`VulkanOptions.narrow64`), as on a device without
        /// shaderInt64 and shaderFloat64, where `shared` may hold 64-bit types in 8 bytes.
        let narrow: VulkanDevice
        /// For the test that provokes a validation message, which would fail any other test.
        let provoked: VulkanDevice
        /// With synchronization validation, for one test at a time.
        let synchronized: VulkanDevice
        /// One per spec of `forcedSpecs` at fp32, and of `halfSpecs` at fp16, each with
        /// synchronization validation too: each is one test case's, so each device is used by
        /// one thread at a time.
        let forced: [ForcedKey: VulkanDevice]
        /// A session on a validated device of its own (validation without poisoning, as a
        /// session opens it): sessions share it through `SessionOptions.vulkanDeviceOf`.
        let session: Session
    }

    static let opened = Result {
        let environment = VulkanOptions.fromEnvironment()
        func open(_ options: VulkanOptions) throws -> VulkanDevice {
            var options = options
            (options.device, options.validation, options.poisonAllocations) = (environment.device, true, true)
            return try VulkanDevice(options: options)
        }
        var b = GraphBuilder(name: "relu")
        b.output(b.node("Relu", [b.input("x", .float, [.value(1)])], output: "y"))
        let session = try Session(model: Model(irVersion: 8, opsets: ["": 17], graph: b.graph),
                                  options: SessionOptions(threads: 1, backend: .vulkan, vulkanDevice: environment.device,
                                                          vulkanValidation: true))
        return Devices(shared: try open(.init(kernelVariants: environment.kernelVariants)),
                       staging: try open(.init(forceStaging: true)),
                       narrow: try open(.init(narrow64: true)),
                       provoked: try open(.init()),
                       synchronized: try open(.init(synchronizationValidation: true)),
                       forced: try Dictionary(uniqueKeysWithValues: forcedKeys.map {
                           ($0, try open(.init(synchronizationValidation: true, kernelVariants: $0.spec, precision: $0.precision)))
                       }),
                       session: session)
    }
    static let device = try? opened.get().shared
    /// The shared device in narrow storage (`Devices.narrow`).
    static let narrowDevice = try? opened.get().narrow
    /// Why the Vulkan tests do not run, for `.enabled(if: TestVulkan.device != nil, TestVulkan.skipReason)`.
    static let skipReason: Comment = {
        guard case .failure(let error) = opened else { return "" }
        return Comment(rawValue: "no Vulkan device with validation: \(error)")
    }()
    static let required = ProcessInfo.processInfo.environment["VONNX_TEST_REQUIRE_VULKAN"] == "1"

    /// Each variant of each family of `KernelVariants.table`, as "family=variant".
    static let variants = KernelVariants.table.keys.sorted().flatMap { family in
        KernelVariants.table[family]!.map { "\(family)=\($0.name)" }
    }
    /// Each conv variant paired with a gemm variant (pointwise convs and their epilogue take the gemm path).
    static let convSpecs: [String] = {
        let convs = variants.filter { $0.hasPrefix("conv=") }, gemms = variants.filter { $0.hasPrefix("gemm=") }
        let count = max(convs.count, gemms.count)
        return (0..<count).map { "\(convs[$0 % convs.count]),\(gemms[$0 % gemms.count])" }
    }()
    /// A forced device's variant spec and precision.
    struct ForcedKey: Hashable {
        let spec: String
        let precision: Precision
    }
    /// The forced devices: every variant spec at fp32; the conv and gemm ones (whose kernels
    /// read float16 weights) at fp16 too.
    static let forcedKeys = (variants + convSpecs).map { ForcedKey(spec: $0, precision: .fp32) }
        + (variants.filter { $0.hasPrefix("gemm=") } + convSpecs).map { ForcedKey(spec: $0, precision: .fp16) }

    /// The device forcing `spec` at `precision` (one of `forcedKeys`).
    static func device(forcing spec: String, precision: Precision = .fp32) throws -> VulkanDevice {
        guard let device = try opened.get().forced[ForcedKey(spec: spec, precision: precision)] else {
            throw VonnxError.invalidArgument("no test device forces '\(spec)' at \(precision): add it to TestVulkan.forcedKeys")
        }
        return device
    }
}

@Test(.enabled(if: TestVulkan.required, "set VONNX_TEST_REQUIRE_VULKAN=1 to make a missing Vulkan device a failure"))
func vulkanTestsCanRun() throws {
    _ = try TestVulkan.opened.get()
}
