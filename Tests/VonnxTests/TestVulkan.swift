import Foundation
import Testing
@testable import VonnxVulkan

/// The Vulkan device the tests share: validation on (any message fails a test) and new buffers
/// poisoned with NaN, so an unwritten output shows. Tests that need it are skipped, with the
/// reason printed, when it cannot be opened; `vulkanTestsCanRun` turns that into a failure
/// where a device must be there (scripts/test.sh sets VONNX_TEST_REQUIRE_VULKAN=1).
enum TestVulkan {
    static let opened = Result {
        var options = VulkanOptions.fromEnvironment()
        (options.validation, options.poisonAllocations) = (true, true)
        return try VulkanDevice(options: options)
    }
    static let device = try? opened.get()
    /// Why the Vulkan tests do not run, for `.enabled(if: TestVulkan.device != nil, TestVulkan.skipReason)`.
    static let skipReason: Comment = {
        guard case .failure(let error) = opened else { return "" }
        return Comment(rawValue: "no Vulkan device with validation: \(error)")
    }()
    static let required = ProcessInfo.processInfo.environment["VONNX_TEST_REQUIRE_VULKAN"] == "1"
}

@Test(.enabled(if: TestVulkan.required, "set VONNX_TEST_REQUIRE_VULKAN=1 to make a missing Vulkan device a failure"))
func vulkanTestsCanRun() throws {
    _ = try TestVulkan.opened.get()
}
