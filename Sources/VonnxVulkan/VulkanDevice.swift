import CVulkan
import Glibc
import VonnxIR

/// What Vonnx reports about one Vulkan physical device.
public struct VulkanDeviceInfo: Sendable, CustomStringConvertible {
    /// Position in the driver's enumeration order (what `VulkanOptions.device` may name).
    public let index: Int
    /// The driver's device name ("NVIDIA H100 80GB HBM3", "llvmpipe (LLVM 15.0.6, 256 bits)").
    public let name: String
    /// "discrete", "integrated", "virtual", "cpu" or "other".
    public let kind: String
    /// Driver name and version text (empty before Vulkan 1.2 drivers).
    public let driver: String
    /// The Vulkan version the device supports, as "1.3.255".
    public let apiVersion: String
    /// The PCI vendor ID.
    public let vendorID: UInt32
    /// The vendor's device ID.
    public let deviceID: UInt32
    /// Total size of the device-local memory heaps, in bytes.
    public let deviceLocalBytes: UInt64
    /// The device's UUID (VkPhysicalDeviceIDProperties.deviceUUID, as CUDA_VISIBLE_DEVICES's
    /// `GPU-…` entries name NVIDIA GPUs), from Vulkan 1.1 drivers.
    public let uuid: [UInt8]?

    public var description: String {
        "[\(index)] \(name) (\(kind), \(driver.isEmpty ? "unknown driver" : driver), Vulkan \(apiVersion), "
            + "vendor 0x\(String(vendorID, radix: 16)), \(deviceLocalBytes >> 20) MiB device-local"
            + (uuidString.map { ", UUID \($0)" } ?? "") + ")"
    }

    /// `uuid` as 8-4-4-4-12 hex digits.
    public var uuidString: String? {
        uuid.map { bytes in
            let hex = bytes.map { String($0 >> 4, radix: 16) + String($0 & 15, radix: 16) }
            return [0..<4, 4..<6, 6..<8, 8..<10, 10..<bytes.count].map { hex[$0].joined() }.joined(separator: "-")
        }
    }
}

/// How to open a Vulkan device.
public struct VulkanOptions: Sendable {
    /// A device index ("1") or a case-insensitive name substring ("llvmpipe"); nil takes the
    /// first discrete GPU, else integrated, virtual, then CPU device.
    public var device: String?
    /// Turns on VK_LAYER_KHRONOS_validation and collects its warnings and errors for
    /// `VulkanDevice.takeValidationMessages()`.
    public var validation: Bool
    /// With `validation`, also the layer's synchronization validation: it reports a dispatch
    /// that reads or writes what an earlier one wrote without a barrier between them, which
    /// lavapipe, running dispatches one after the other, would never show. Use such a device
    /// from one thread at a time: the layer's synchronization state is not safe to share.
    public var synchronizationValidation: Bool
    /// Fills every new buffer with NaN so a kernel that skips an output element is caught.
    public var poisonAllocations: Bool
    /// Copies through staging buffers even where device memory is host-visible, as on a
    /// discrete GPU (to test that path on lavapipe).
    public var forceStaging: Bool
    /// The folder for compiled shaders and the driver's pipeline cache; nil reads the
    /// environment variable VONNX_CACHE_DIR, and without it `$XDG_CACHE_HOME/vonnx`, else
    /// `~/.cache/vonnx`; "off" keeps nothing on disk. A device given a folder here keeps its
    /// own in-memory SPIR-V cache.
    public var cacheDirectory: String?
    /// Kernel variants to use whatever the device, as "FAMILY=VARIANT,…" ("gemm=tiled,conv=narrow";
    /// see `KernelVariants.table`), for tests and comparisons; nil chooses each kernel's variant
    /// for the device.
    public var kernelVariants: String?
    /// `.fp16` stores the constant operands of the conv and matrix-product kernels as float16
    /// (see `Precision`); `.fp32` keeps every tensor float32.
    public var precision: Precision
    /// Keeps every element one 32-bit word (`VulkanStorage.narrow`: int64 and uint64 narrowed,
    /// float64 on the host) even where the device could hold 64-bit types in 8 bytes: how a
    /// device without shaderInt64 and shaderFloat64 works, to test that anywhere.
    public var narrow64: Bool

    /// Each argument sets the property of its name.
    public init(device: String? = nil, validation: Bool = false, synchronizationValidation: Bool = false,
                poisonAllocations: Bool = false, forceStaging: Bool = false,
                cacheDirectory: String? = nil, kernelVariants: String? = nil, precision: Precision = .fp32,
                narrow64: Bool = false) {
        self.device = device; self.validation = validation; self.synchronizationValidation = synchronizationValidation
        self.poisonAllocations = poisonAllocations; self.forceStaging = forceStaging
        self.cacheDirectory = cacheDirectory; self.kernelVariants = kernelVariants; self.precision = precision
        self.narrow64 = narrow64
    }

    /// The defaults, with `device` from the environment variable VONNX_VULKAN_DEVICE and
    /// `kernelVariants` from VONNX_VULKAN_KERNELS (empty counts as unset). The plain
    /// initializer reads no environment variable.
    public static func fromEnvironment() -> VulkanOptions {
        func env(_ name: String) -> String? { getenv(name).map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } }
        return VulkanOptions(device: env("VONNX_VULKAN_DEVICE"), kernelVariants: env("VONNX_VULKAN_KERNELS"))
    }
}

/// Collects validation-layer messages; the debug callback's user data.
final class MessageSink: @unchecked Sendable {
    private let lock = Lock()
    private var messages: [String] = []
    func append(_ m: String) { lock.withLock { messages.append(m) } }
    func take() -> [String] { lock.withLock { defer { messages = [] }; return messages } }
}

private let debugCallback: PFN_vkDebugUtilsMessengerCallbackEXT = { _, _, data, user in
    guard let user else { return 0 }
    let message = data?.pointee.pMessage.map { String(cString: $0) } ?? "(no message)"
    Unmanaged<MessageSink>.fromOpaque(user).takeUnretainedValue().append(message)
    return 0
}

/// An instance that owns nothing else: for listing devices and as the root of a device.
private final class Instance {
    let handle: VkInstance
    let messenger: VkDebugUtilsMessengerEXT?
    let sink: MessageSink

    init(validation: Bool, synchronization: Bool = false) throws {
        let sink = MessageSink()
        self.sink = sink
        // The same messenger settings go on the instance's pNext chain, so messages from
        // vkCreateInstance and vkDestroyInstance are caught too.
        var messengerInfo = VkDebugUtilsMessengerCreateInfoEXT()
        messengerInfo.sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT
        messengerInfo.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT.rawValue
            | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT.rawValue
        messengerInfo.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT.rawValue
            | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT.rawValue
            | VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT.rawValue
        messengerInfo.pfnUserCallback = debugCallback
        messengerInfo.pUserData = Unmanaged.passUnretained(sink).toOpaque()
        let enabledFeatures = [VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT]
        var features = VkValidationFeaturesEXT()
        features.sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT
        features.enabledValidationFeatureCount = synchronization ? 1 : 0
        var layers: [String] = []
        var extensions: [String] = []
        if validation {
            var count: UInt32 = 0
            vkEnumerateInstanceLayerProperties(&count, nil)
            var props = [VkLayerProperties](repeating: .init(), count: Int(count))
            vkEnumerateInstanceLayerProperties(&count, &props)
            guard props.contains(where: { string(fromCTuple: $0.layerName) == "VK_LAYER_KHRONOS_validation" }) else {
                throw VonnxError.invalidArgument("Vulkan: validation was asked for but VK_LAYER_KHRONOS_validation is not installed (Debian: vulkan-validationlayers)")
            }
            layers = ["VK_LAYER_KHRONOS_validation"]
            extensions = ["VK_EXT_debug_utils"]
        }
        var instance: VkInstance?
        var app = VkApplicationInfo()
        app.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO
        app.apiVersion = VONNX_VK_API_VERSION_1_2
        try withCStrings(["Vonnx"] + layers + extensions) { names in
            app.pApplicationName = names[0]
            app.pEngineName = names[0]
            let layerNames = Array(names[1..<(1 + layers.count)]), extensionNames = Array(names[(1 + layers.count)...])
            try withUnsafePointer(to: &app) { appPtr in
                try enabledFeatures.withUnsafeBufferPointer { fp in
                    features.pEnabledValidationFeatures = fp.baseAddress
                    try withUnsafePointer(to: &features) { featuresPtr in
                        messengerInfo.pNext = UnsafeRawPointer(featuresPtr)
                        defer { messengerInfo.pNext = nil }
                        try withUnsafePointer(to: &messengerInfo) { messengerPtr in
                            try layerNames.withUnsafeBufferPointer { lp in
                                try extensionNames.withUnsafeBufferPointer { ep in
                                    var info = VkInstanceCreateInfo()
                                    info.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO
                                    info.pNext = validation ? UnsafeRawPointer(messengerPtr) : nil
                                    info.pApplicationInfo = appPtr
                                    info.enabledLayerCount = UInt32(lp.count)
                                    info.ppEnabledLayerNames = lp.count > 0 ? lp.baseAddress : nil
                                    info.enabledExtensionCount = UInt32(ep.count)
                                    info.ppEnabledExtensionNames = ep.count > 0 ? ep.baseAddress : nil
                                    let result = vkCreateInstance(&info, nil, &instance)
                                    if result == VK_ERROR_INCOMPATIBLE_DRIVER {
                                        throw VonnxError.invalidArgument("Vulkan: no Vulkan driver found (install a GPU driver, or Mesa's lavapipe: mesa-vulkan-drivers)")
                                    }
                                    try check(result, "vkCreateInstance")
                                }
                            }
                        }
                    }
                }
            }
        }
        handle = instance!
        guard validation else { messenger = nil; return }
        guard let raw = vkGetInstanceProcAddr(handle, "vkCreateDebugUtilsMessengerEXT") else {
            vkDestroyInstance(handle, nil)
            throw VonnxError.invalidArgument("Vulkan: vkCreateDebugUtilsMessengerEXT is unavailable")
        }
        let create = unsafeBitCast(raw, to: PFN_vkCreateDebugUtilsMessengerEXT.self)
        var m: VkDebugUtilsMessengerEXT?
        let result = create(handle, &messengerInfo, nil, &m)
        guard result == VK_SUCCESS else {
            vkDestroyInstance(handle, nil)
            throw VonnxError.invalidArgument("Vulkan: vkCreateDebugUtilsMessengerEXT failed with \(name(of: result))")
        }
        messenger = m
    }

    deinit {
        if let messenger, let raw = vkGetInstanceProcAddr(handle, "vkDestroyDebugUtilsMessengerEXT") {
            unsafeBitCast(raw, to: PFN_vkDestroyDebugUtilsMessengerEXT.self)(handle, messenger, nil)
        }
        vkDestroyInstance(handle, nil)
    }

    func physicalDevices() throws -> [VkPhysicalDevice] {
        var count: UInt32 = 0
        try check(vkEnumeratePhysicalDevices(handle, &count, nil), "vkEnumeratePhysicalDevices")
        var devices = [VkPhysicalDevice?](repeating: nil, count: Int(count))
        try check(vkEnumeratePhysicalDevices(handle, &count, &devices), "vkEnumeratePhysicalDevices")
        return devices.compactMap { $0 }
    }
}

private func describe(_ pd: VkPhysicalDevice, index: Int) -> VulkanDeviceInfo {
    var props = VkPhysicalDeviceProperties()
    vkGetPhysicalDeviceProperties(pd, &props)
    var driver = "", uuid: [UInt8]?
    if props.apiVersion >= VONNX_VK_API_VERSION_1_1 {
        var ids = VkPhysicalDeviceIDProperties()
        ids.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES
        var dp = VkPhysicalDeviceDriverProperties()
        dp.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES
        let withDriver = props.apiVersion >= VONNX_VK_API_VERSION_1_2
        withUnsafeMutablePointer(to: &ids) { idp in
            withUnsafeMutablePointer(to: &dp) { dpp in
                if withDriver { dpp.pointee.pNext = UnsafeMutableRawPointer(idp) }
                var p2 = VkPhysicalDeviceProperties2()
                p2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2
                p2.pNext = withDriver ? UnsafeMutableRawPointer(dpp) : UnsafeMutableRawPointer(idp)
                vkGetPhysicalDeviceProperties2(pd, &p2)
            }
        }
        if withDriver { driver = "\(string(fromCTuple: dp.driverName)) \(string(fromCTuple: dp.driverInfo))" }
        uuid = withUnsafeBytes(of: ids.deviceUUID) { Array($0) }
    }
    var mem = VkPhysicalDeviceMemoryProperties()
    vkGetPhysicalDeviceMemoryProperties(pd, &mem)
    let heaps = withUnsafeBytes(of: mem.memoryHeaps) { Array($0.bindMemory(to: VkMemoryHeap.self).prefix(Int(mem.memoryHeapCount))) }
    let local = heaps.filter { $0.flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT.rawValue != 0 }.reduce(0) { $0 + $1.size }
    let kind = switch props.deviceType {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: "discrete"
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: "integrated"
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: "virtual"
    case VK_PHYSICAL_DEVICE_TYPE_CPU: "cpu"
    default: "other"
    }
    return VulkanDeviceInfo(index: index, name: string(fromCTuple: props.deviceName), kind: kind,
                            driver: driver.trimmingSpaces, apiVersion: versionString(props.apiVersion),
                            vendorID: props.vendorID, deviceID: props.deviceID, deviceLocalBytes: local, uuid: uuid)
}

private extension String {
    var trimmingSpaces: String { String(self.drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed()) }
}

/// An open Vulkan device with one compute queue, its pipelines and its validation messages.
/// Thread-safe: pipeline lookups and queue submissions are serialized by a lock; buffers and
/// recorders made from it keep it alive.
public final class VulkanDevice: @unchecked Sendable {
    /// The physical device opened.
    public let info: VulkanDeviceInfo
    /// The options it was opened with.
    public let options: VulkanOptions
    let handle: VkDevice
    let physical: VkPhysicalDevice
    let queue: VkQueue
    let queueFamily: UInt32
    let memory: VkPhysicalDeviceMemoryProperties
    /// The most workgroups one dispatch may have along x.
    let maxGroupsX: UInt32
    /// The largest storage buffer a shader may bind, in bytes.
    public let maxBufferBytes: Int
    /// Nanoseconds per timestamp tick, or nil when the compute queue cannot write timestamps.
    let timestampPeriod: Double?
    /// True when buffers are host-visible device memory (CPU and integrated devices): no staging.
    public let unifiedMemory: Bool
    /// What kernel variants are chosen from.
    public let properties: VulkanDeviceProperties
    /// How its buffers hold each element type: 64-bit types in 8 bytes where the device has
    /// shaderInt64 (int64, uint64) and shaderFloat64 (float64) and `VulkanOptions.narrow64` is off.
    public let storage: VulkanStorage
    /// Kernel variant by family, where `VulkanOptions.kernelVariants` forces one.
    let forcedVariants: [String: String]
    let allocator: MemoryAllocator
    let compiler: ShaderCompiler
    /// The driver's pipeline cache, seeded from and saved to the disk cache.
    let pipelineCache: VkPipelineCache
    /// Bytes of pipeline cache taken from the disk cache when the device opened (0: started empty).
    let pipelineCacheLoadedBytes: Int
    private let pipelineCacheEntry: (name: String, key: [UInt8])
    /// SHA-256 of the pipeline cache data last loaded or saved (guarded by `lock`): unchanged
    /// data is not saved again.
    private var pipelineCacheDigest: [UInt8]
    private let instance: Instance
    private let lock = Lock()
    private var pipelines: [String: VulkanPipeline] = [:]

    /// Every physical device the Vulkan loader sees, in enumeration order.
    public static func availableDevices() throws -> [VulkanDeviceInfo] {
        let instance = try Instance(validation: false)
        return try instance.physicalDevices().enumerated().map { describe($1, index: $0) }
    }

    /// Opens the device `options` selects; throws when there is none or the name matches none.
    public init(options: VulkanOptions = .init()) throws {
        self.options = options
        forcedVariants = try KernelVariants.parse(options.kernelVariants ?? "")
        instance = try Instance(validation: options.validation, synchronization: options.synchronizationValidation)
        let devices = try instance.physicalDevices()
        let infos = devices.enumerated().map { describe($1, index: $0) }
        let chosen = try Self.select(from: infos, selector: options.device)
        info = chosen
        physical = devices[chosen.index]
        properties = VulkanDeviceProperties(physical, kind: chosen.kind)
        storage = options.narrow64 ? .narrow
            : VulkanStorage(wide: properties.int64 ? [.int64, .uint64] : []).union(properties.float64 ? [.double] : [])

        var familyCount: UInt32 = 0
        vkGetPhysicalDeviceQueueFamilyProperties(physical, &familyCount, nil)
        var families = [VkQueueFamilyProperties](repeating: .init(), count: Int(familyCount))
        vkGetPhysicalDeviceQueueFamilyProperties(physical, &familyCount, &families)
        guard let family = families.firstIndex(where: { $0.queueFlags & VK_QUEUE_COMPUTE_BIT.rawValue != 0 }) else {
            throw VonnxError.invalidArgument("Vulkan: \(chosen.name) has no compute queue")
        }
        queueFamily = UInt32(family)
        let timestampBits = families[family].timestampValidBits

        var priority: Float = 1
        var queueInfo = VkDeviceQueueCreateInfo()
        queueInfo.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO
        queueInfo.queueFamilyIndex = queueFamily
        queueInfo.queueCount = 1
        var device: VkDevice?
        let physical = physical
        // The 64-bit shader types the storage holds wide.
        var enabled = VkPhysicalDeviceFeatures()
        enabled.shaderInt64 = storage.wide.contains(.int64) ? 1 : 0
        enabled.shaderFloat64 = storage.wide.contains(.double) ? 1 : 0
        // Packed 8-bit dot products where offered (the integerGemm family's dot4x8).
        var dotFeatures = VkPhysicalDeviceShaderIntegerDotProductFeatures()
        dotFeatures.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES
        dotFeatures.shaderIntegerDotProduct = 1
        let extensions = properties.integerDotProduct ? [integerDotProductExtension] : []
        try withUnsafePointer(to: &priority) { pp in
            queueInfo.pQueuePriorities = pp
            try withUnsafePointer(to: &queueInfo) { qp in
                try withUnsafePointer(to: &enabled) { fp in
                    try withUnsafePointer(to: &dotFeatures) { dp in
                        try withCStrings(extensions) { names in
                            try names.withUnsafeBufferPointer { np in
                                var deviceInfo = VkDeviceCreateInfo()
                                deviceInfo.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO
                                deviceInfo.pNext = extensions.isEmpty ? nil : UnsafeRawPointer(dp)
                                deviceInfo.queueCreateInfoCount = 1
                                deviceInfo.pQueueCreateInfos = qp
                                deviceInfo.pEnabledFeatures = fp
                                deviceInfo.enabledExtensionCount = UInt32(np.count)
                                deviceInfo.ppEnabledExtensionNames = np.isEmpty ? nil : np.baseAddress
                                try check(vkCreateDevice(physical, &deviceInfo, nil, &device), "vkCreateDevice")
                            }
                        }
                    }
                }
            }
        }
        handle = device!
        var q: VkQueue?
        vkGetDeviceQueue(handle, queueFamily, 0, &q)
        queue = q!

        var mem = VkPhysicalDeviceMemoryProperties()
        vkGetPhysicalDeviceMemoryProperties(physical, &mem)
        memory = mem
        var props = VkPhysicalDeviceProperties()
        vkGetPhysicalDeviceProperties(physical, &props)
        maxGroupsX = props.limits.maxComputeWorkGroupCount.0
        maxBufferBytes = Int(props.limits.maxStorageBufferRange)
        timestampPeriod = timestampBits > 0 ? Double(props.limits.timestampPeriod) : nil
        allocator = MemoryAllocator(device: handle)
        compiler = options.cacheDirectory == nil ? .shared
            : ShaderCompiler(disk: PipelineDiskCache(directory: PipelineDiskCache.resolve(options.cacheDirectory)))
        pipelineCacheEntry = Self.pipelineCacheEntry(props)
        let seed = compiler.disk.load(pipelineCacheEntry.name, key: pipelineCacheEntry.key)
            .flatMap { Self.validPipelineCache($0, props) ? $0 : nil } ?? []
        do {
            pipelineCache = try Self.makePipelineCache(handle, seed)
        } catch {
            vkDestroyDevice(handle, nil)
            throw error
        }
        pipelineCacheLoadedBytes = seed.count
        pipelineCacheDigest = SHA256.hash(seed)
        unifiedMemory = !options.forceStaging && (chosen.kind == "cpu" || chosen.kind == "integrated")
            && Self.memoryType(in: mem, bits: ~0, flags: Self.hostVisibleLocal) != nil
    }

    /// The device `selector` names (an index, else a case-insensitive name substring); without
    /// one, the first discrete GPU, else integrated, virtual, then CPU device.
    static func select(from infos: [VulkanDeviceInfo], selector: String?) throws -> VulkanDeviceInfo {
        guard !infos.isEmpty else { throw VonnxError.invalidArgument("Vulkan: no Vulkan device found (no driver, or no GPU and no lavapipe)") }
        guard let selector, !selector.isEmpty else {
            let rank = ["discrete": 0, "integrated": 1, "virtual": 2, "cpu": 3]
            return infos.min { (rank[$0.kind] ?? 4, $0.index) < (rank[$1.kind] ?? 4, $1.index) }!
        }
        let match = Int(selector).flatMap { i in infos.first { $0.index == i } }
            ?? infos.first { $0.name.lowercased().contains(selector.lowercased()) }
        guard let match else {
            throw VonnxError.invalidArgument("Vulkan: no device matches '\(selector)'; devices: "
                                             + infos.map(\.description).joined(separator: "; "))
        }
        return match
    }

    deinit {
        vkDeviceWaitIdle(handle)
        savePipelineCache()
        vkDestroyPipelineCache(handle, pipelineCache, nil)
        pipelines.values.forEach { $0.destroy(handle) }
        allocator.releaseAll()
        vkDestroyDevice(handle, nil)
    }

    /// Device memory this device holds from the driver now, in bytes (buffers in use and spare).
    public var allocatedBytes: UInt64 { allocator.reservedBytes }

    /// Validation-layer warnings and errors since the last call (empty without validation).
    public func takeValidationMessages() -> [String] { instance.sink.take() }

    /// Uploads tensors (weights, say; of `storage.dataTypes`) in one submission and waits for it.
    public func upload(_ tensors: [Tensor]) throws -> [VulkanTensor] {
        let recorder = try VulkanRecorder(device: self)
        let uploaded = try tensors.map { try recorder.upload($0) }
        try recorder.submitAndWait()
        return uploaded
    }

    /// Reads tensors back to the host in one submission and waits for it.
    public func download(_ tensors: [VulkanTensor]) throws -> [Tensor] {
        let recorder = try VulkanRecorder(device: self)
        let downloads = try tensors.map { try recorder.download($0) }
        try recorder.submitAndWait()
        return try downloads.map { try $0.tensor() }
    }

    static let hostVisibleLocal = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT.rawValue
        | VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT.rawValue | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT.rawValue

    /// The first memory type allowed by `bits` that has all of `flags`.
    static func memoryType(in mem: VkPhysicalDeviceMemoryProperties, bits: UInt32, flags: UInt32) -> UInt32? {
        withUnsafeBytes(of: mem.memoryTypes) { raw in
            let types = raw.bindMemory(to: VkMemoryType.self)
            return (0..<Int(mem.memoryTypeCount)).first { i in
                bits & (1 << UInt32(i)) != 0 && types[i].propertyFlags & flags == flags
            }.map(UInt32.init)
        }
    }

    /// Submits `commandBuffer` to the compute queue; `fence` signals on completion.
    func submit(_ commandBuffer: VkCommandBuffer, fence: VkFence) throws {
        var cb: VkCommandBuffer? = commandBuffer
        var submit = VkSubmitInfo()
        submit.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO
        submit.commandBufferCount = 1
        try withUnsafePointer(to: &cb) { cbp in
            submit.pCommandBuffers = cbp
            try lock.withLock { try check(vkQueueSubmit(queue, 1, &submit, fence), "vkQueueSubmit") }
        }
    }

    /// Pipelines built so far (each shader variant and workgroup size once).
    public var pipelineCount: Int { lock.withLock { pipelines.count } }

    /// The compute pipeline of embedded shader `shader` compiled with `defines`, reading
    /// storage buffers at bindings `0..<bindings` of set 0 and up to 128 bytes of push
    /// constants, with the workgroup size given as specialization constants 0, 1, 2; built
    /// once, then cached.
    func pipeline(_ shader: String, defines: [String: String] = [:], bindings: Int,
                  workgroup: (UInt32, UInt32, UInt32)) throws -> VulkanPipeline {
        try pipeline(key: ShaderCompiler.key(shader, defines), bindings: bindings, workgroup: workgroup) {
            try $0.spirv(shader, defines: defines)
        }
    }

    /// The compute pipeline of generated GLSL `source` (its `#include`s name embedded shader
    /// files), as `pipeline(_:defines:bindings:workgroup:)` makes one: built once, then cached.
    func pipeline(generated source: String, bindings: Int, workgroup: (UInt32, UInt32, UInt32)) throws -> VulkanPipeline {
        try pipeline(key: ShaderCompiler.key(generated: source), bindings: bindings, workgroup: workgroup) {
            try $0.spirv(generated: source)
        }
    }

    private func pipeline(key shaderKey: String, bindings: Int, workgroup: (UInt32, UInt32, UInt32),
                          _ compile: (ShaderCompiler) throws -> [UInt32]) throws -> VulkanPipeline {
        let key = shaderKey + "|\(bindings)|\(workgroup.0)x\(workgroup.1)x\(workgroup.2)"
        return try lock.withLock {
            if let p = pipelines[key] { return p }
            let spirv = try compile(compiler)
            let p = try VulkanPipeline(device: handle, cache: pipelineCache, spirv: spirv, bindings: bindings, workgroup: workgroup)
            pipelines[key] = p
            return p
        }
    }
}

// MARK: - Pipeline cache on disk

extension VulkanDevice {
    /// Writes the driver's pipeline cache to the disk cache if pipelines were added since it
    /// was loaded or last saved, merging in what another process saved meanwhile. The device
    /// does this when it closes; a long-lived device may call it once its pipelines are built.
    public func savePipelineCache() {
        lock.withLock {
            guard compiler.disk.directory != nil, let data = pipelineCacheData() else { return }
            let digest = SHA256.hash(data)
            guard digest != pipelineCacheDigest else { return }
            let (name, key) = pipelineCacheEntry
            var props = VkPhysicalDeviceProperties()
            vkGetPhysicalDeviceProperties(physical, &props)
            if let onDisk = compiler.disk.load(name, key: key), SHA256.hash(onDisk) != pipelineCacheDigest,
               Self.validPipelineCache(onDisk, props), let other = try? Self.makePipelineCache(handle, onDisk) {
                var source: VkPipelineCache? = other
                vkMergePipelineCaches(handle, pipelineCache, 1, &source)
                vkDestroyPipelineCache(handle, other, nil)
            }
            let merged = pipelineCacheData() ?? data
            compiler.disk.store(name, key: key, payload: merged)
            pipelineCacheDigest = SHA256.hash(merged)
        }
    }

    /// The disk entry of this device's pipeline cache: keyed by pipelineCacheUUID, vendor,
    /// device and driver version, so another driver or version never sees it.
    fileprivate static func pipelineCacheEntry(_ props: VkPhysicalDeviceProperties) -> (name: String, key: [UInt8]) {
        var id: [UInt8] = withUnsafeBytes(of: props.pipelineCacheUUID) { Array($0) }
        for v in [props.vendorID, props.deviceID, props.driverVersion] { withUnsafeBytes(of: v.littleEndian) { id += $0 } }
        let key = SHA256.hash(Array("vonnx-pipeline-cache\n".utf8) + id)
        return ("pipelines-" + hexString(key), key)
    }

    /// True when `data` starts with a VkPipelineCacheHeaderVersionOne naming this device.
    fileprivate static func validPipelineCache(_ data: [UInt8], _ props: VkPhysicalDeviceProperties) -> Bool {
        guard data.count >= 32 else { return false }
        let field = { (i: Int) in data.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)) } }
        return field(0) >= 32 && Int(field(0)) <= data.count
            && field(1) == UInt32(VK_PIPELINE_CACHE_HEADER_VERSION_ONE.rawValue)
            && field(2) == props.vendorID && field(3) == props.deviceID
            && withUnsafeBytes(of: props.pipelineCacheUUID, { data[16..<32].elementsEqual($0) })
    }

    fileprivate static func makePipelineCache(_ device: VkDevice, _ seed: [UInt8]) throws -> VkPipelineCache {
        var cache: VkPipelineCache?
        try seed.withUnsafeBytes { raw in
            var info = VkPipelineCacheCreateInfo()
            info.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO
            info.initialDataSize = raw.count
            info.pInitialData = raw.count > 0 ? raw.baseAddress : nil
            try check(vkCreatePipelineCache(device, &info, nil, &cache), "vkCreatePipelineCache")
        }
        return cache!
    }

    private func pipelineCacheData() -> [UInt8]? {
        var size = 0
        guard vkGetPipelineCacheData(handle, pipelineCache, &size, nil) == VK_SUCCESS else { return nil }
        var data = [UInt8](repeating: 0, count: size)
        guard vkGetPipelineCacheData(handle, pipelineCache, &size, &data) == VK_SUCCESS else { return nil }
        return Array(data.prefix(size))
    }
}
