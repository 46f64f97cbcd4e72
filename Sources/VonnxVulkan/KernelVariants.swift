import CVulkan
import Glibc
import VonnxIR

/// What the kernel choice needs to know of a device, read once when it opens.
public struct VulkanDeviceProperties: Sendable {
    /// As `VulkanDeviceInfo.kind`: "discrete", "integrated", "virtual", "cpu" or "other".
    public let kind: String
    /// The PCI vendor ID (0x10DE NVIDIA, 0x1002 AMD, 0x8086 Intel, 0x10005 Mesa).
    public let vendorID: UInt32
    /// Invocations per subgroup (1 before Vulkan 1.1).
    public let subgroupSize: Int
    /// Whether compute shaders may broadcast a value from one invocation of a subgroup to the
    /// others (GL_KHR_shader_subgroup_ballot).
    public let subgroupBroadcast: Bool
    /// Bytes of workgroup shared memory a shader may declare.
    public let sharedMemoryBytes: Int
    /// Whether shaders may use float16, int8, int64 and float64 arithmetic.
    public let float16: Bool, int8: Bool, int64: Bool, float64: Bool
    /// Whether the device offers VK_KHR_cooperative_matrix (or the NV extension).
    public let cooperativeMatrix: Bool
    /// The most invocations a workgroup's first dimension may have.
    public let maxWorkgroupWidth: Int
    /// Whether shaders may compute dot products of 4 packed 8-bit integers (OpSDot, OpUDot,
    /// OpSUDot): VK_KHR_shader_integer_dot_product with its feature, which the device enables.
    public let integerDotProduct: Bool
    /// Loop iterations after which an invocation's loops silently stop, where the driver has
    /// such a limit: lavapipe's compiler (gallivm) ends them after 65,535.
    public var loopIterationLimit: Int? { kind == "cpu" ? 65_535 : nil }

    /// Whether workgroup shared memory and barriers pay off: on GPUs. A CPU device (lavapipe)
    /// runs a workgroup as a loop, where they are the costliest things a shader can do (ncnn's
    /// probe says `prefer-slm=0` there).
    public var prefersSharedMemory: Bool { kind != "cpu" }

    init(_ pd: VkPhysicalDevice, kind: String) {
        self.kind = kind
        var subgroup = VkPhysicalDeviceSubgroupProperties()
        subgroup.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES
        var props = VkPhysicalDeviceProperties2()
        props.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2
        var v12 = VkPhysicalDeviceVulkan12Features()
        v12.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES
        var features = VkPhysicalDeviceFeatures2()
        features.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2
        var basic = VkPhysicalDeviceProperties()
        vkGetPhysicalDeviceProperties(pd, &basic)
        let api = basic.apiVersion
        withUnsafeMutablePointer(to: &subgroup) { sp in
            props.pNext = api >= VONNX_VK_API_VERSION_1_1 ? UnsafeMutableRawPointer(sp) : nil
            vkGetPhysicalDeviceProperties2(pd, &props)
        }
        withUnsafeMutablePointer(to: &v12) { vp in
            features.pNext = api >= VONNX_VK_API_VERSION_1_2 ? UnsafeMutableRawPointer(vp) : nil
            vkGetPhysicalDeviceFeatures2(pd, &features)
        }
        vendorID = basic.vendorID
        subgroupSize = api >= VONNX_VK_API_VERSION_1_1 ? Int(max(subgroup.subgroupSize, 1)) : 1
        subgroupBroadcast = api >= VONNX_VK_API_VERSION_1_1
            && subgroup.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT.rawValue != 0
            && subgroup.supportedOperations & VK_SUBGROUP_FEATURE_BALLOT_BIT.rawValue != 0
        sharedMemoryBytes = Int(basic.limits.maxComputeSharedMemorySize)
        maxWorkgroupWidth = Int(min(basic.limits.maxComputeWorkGroupSize.0, basic.limits.maxComputeWorkGroupInvocations))
        float16 = api >= VONNX_VK_API_VERSION_1_2 && v12.shaderFloat16 != 0
        int8 = api >= VONNX_VK_API_VERSION_1_2 && v12.shaderInt8 != 0
        int64 = features.features.shaderInt64 != 0
        float64 = features.features.shaderFloat64 != 0
        var count: UInt32 = 0
        vkEnumerateDeviceExtensionProperties(pd, nil, &count, nil)
        var extensions = [VkExtensionProperties](repeating: .init(), count: Int(count))
        vkEnumerateDeviceExtensionProperties(pd, nil, &count, &extensions)
        cooperativeMatrix = extensions.contains {
            ["VK_KHR_cooperative_matrix", "VK_NV_cooperative_matrix"].contains(string(fromCTuple: $0.extensionName))
        }
        var dotFeatures = VkPhysicalDeviceShaderIntegerDotProductFeatures()
        dotFeatures.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES
        if extensions.contains(where: { string(fromCTuple: $0.extensionName) == integerDotProductExtension }) {
            var f2 = VkPhysicalDeviceFeatures2()
            f2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2
            withUnsafeMutablePointer(to: &dotFeatures) { f2.pNext = UnsafeMutableRawPointer($0); vkGetPhysicalDeviceFeatures2(pd, &f2) }
        }
        integerDotProduct = dotFeatures.shaderIntegerDotProduct != 0
    }
}

/// The device extension that offers packed 8-bit dot products (core in Vulkan 1.3, but the
/// instance asks for 1.2).
let integerDotProductExtension = "VK_KHR_shader_integer_dot_product"

/// One way to compute a kernel family: its shader, the defines that fix its tile sizes,
/// its workgroup, and the devices and problems it suits.
struct KernelVariant: Sendable {
    let name: String
    let shader: String
    let defines: [String: String]
    /// Workgroup size: `width` × `height` invocations.
    let width: Int, height: Int
    /// Output block of one invocation: `rows` × `columns`, so a workgroup covers
    /// `height × rows` rows and `width × columns` columns.
    let rows: Int, columns: Int
    /// Whether the shader may load vec4s where the operands' layout allows (gemm's VEC4).
    var vectorLoads = false
    /// Whether the variant is the one to take on this device for a problem of `rows` rows
    /// (output channels, say) and `columns` columns (output pixels).
    let suits: @Sendable (VulkanDeviceProperties, _ rows: Int, _ columns: Int) -> Bool
}

/// The kernel variants by family, each family's list in order of preference: the first one
/// that suits the device and problem is taken, unless `VulkanOptions.kernelVariants` forces one.
/// Every variant computes every problem correctly (tests force each on lavapipe).
enum KernelVariants {
    static let table: [String: [KernelVariant]] = [
        // Matrix products: Y = op(A)·op(B), rows of A uniform across a workgroup.
        "gemm": [
            KernelVariant(name: "gemv", shader: "gemm", defines: ["TM": "1", "TN": "4"], width: 64, height: 1, rows: 1, columns: 4,
                          vectorLoads: true, suits: { _, rows, _ in rows == 1 }),
            KernelVariant(name: "tiled", shader: "gemm", defines: ["TILED": "1", "TILE": "16"], width: 16, height: 16, rows: 1, columns: 1,
                          suits: { device, _, _ in device.prefersSharedMemory }),
            // "broadcast" with 8 adjacent columns an invocation (64 a workgroup): each broadcast
            // row of A feeds twice the sums, for the same devices: 289 M instructions against
            // 315 M on the 1×1 conv 1024→256 at 14×14 (callgrind, lavapipe; issue 17's note).
            KernelVariant(name: "broadcast8", shader: "gemm", defines: ["TM": "8", "TN": "8", "SHARE_A": "1"], width: 8, height: 1, rows: 8, columns: 8,
                          vectorLoads: true, suits: { device, _, _ in
                              !device.prefersSharedMemory && device.subgroupBroadcast && device.subgroupSize >= 8 }),
            // The "registers" blocks with A's rows loaded once a subgroup and broadcast, for CPU
            // devices with subgroups of 8 or more: 27% fewer instructions on a 1×1 conv 1024→256
            // at 14×14, 16% on a Winograd 3×3 256→256 at 14×14 (callgrind, lavapipe).
            KernelVariant(name: "broadcast", shader: "gemm", defines: ["TM": "8", "TN": "4", "SHARE_A": "1"], width: 8, height: 1, rows: 8, columns: 4,
                          vectorLoads: true, suits: { device, _, _ in
                              !device.prefersSharedMemory && device.subgroupBroadcast && device.subgroupSize >= 8 }),
            // 8 invocations wide (one lavapipe vector): 32 columns a workgroup, so the 49 to 196
            // pixels of a late ResNet layer waste little.
            KernelVariant(name: "registers", shader: "gemm", defines: ["TM": "8", "TN": "4"], width: 8, height: 1, rows: 8, columns: 4,
                          vectorLoads: true, suits: { _, _, _ in true }),
        ],
        // Convolutions as implicit GEMM: output channels of a group uniform across a workgroup.
        "conv": [
            // Depthwise (group = input channels), a workgroup a channel's pixels (the implicit-GEMM
            // variants would run one-row blocks). On CPU devices an invocation takes a strip of 8
            // pixels of a row, loading each input once where one a pixel loads it KW times;
            // elsewhere one invocation a pixel, so that neighbouring lanes load neighbouring words.
            KernelVariant(name: "depthwiseStrips", shader: "depthwise", defines: ["PX": "8"], width: 8, height: 1, rows: 1, columns: 8,
                          suits: { device, _, _ in !device.prefersSharedMemory }),
            KernelVariant(name: "depthwise", shader: "depthwise", defines: ["PX": "1"], width: 64, height: 1, rows: 1, columns: 1,
                          suits: { _, _, _ in true }),
            // Fewer output pixels than a lavapipe vector has lanes (a voice model's 1-D convs on
            // 1 to 4 frames), on CPU devices: 8 lanes over output channels, each all the pixels
            // (up to 8), where the variants below put lanes over pixels and idle 7 of 8 for a
            // 1-pixel conv. Its workgroup covers 8 channels × 8 pixels as "lanes" does, but its
            // invocations split them the other way (lavapipe vectorizes along x only). (A GPU
            // would want wider workgroups and the weights transposed, so that neighbouring lanes
            // read neighbouring words.)
            KernelVariant(name: "channels", shader: "conv2d", defines: ["OCB": "1", "CHANNEL_LANES": "1"], width: 8, height: 1,
                          rows: 8, columns: 1, suits: { device, _, pixels in !device.prefersSharedMemory && pixels <= 8 }),
            // Winograd F(4×4, 3×3) and F(2×2, 3×3) around a batched GEMM, for stride-1 undilated
            // 3×3 convs of group 1 with at least 8 input channels (else the next that suits).
            // F(4×4) does 4× fewer multiplications than the direct conv, F(2×2) 2.25× with
            // smaller rounding errors.
            // Its GEMM's rows are the tiles: F(4×4) wants at least 8 of 4×4 pixels (the GEMM's
            // block height), else F(2×2)'s smaller tiles fill the blocks better (a 7×7 map).
            // On CPU devices F(4×4) also beats the direct kernels for an image head's 3 output
            // channels (1.4× on a 32→3 conv at 512×512, lavapipe).
            KernelVariant(name: "winograd4", shader: "winograd", defines: ["WINO_M": "4"], width: 8, height: 1, rows: 8, columns: 4,
                          suits: { device, rows, pixels in rows >= (device.prefersSharedMemory ? 8 : 3) && pixels >= 8 * 16 }),
            KernelVariant(name: "winograd2", shader: "winograd", defines: ["WINO_M": "2"], width: 8, height: 1, rows: 8, columns: 4,
                          suits: { _, rows, _ in rows >= 8 }),
            // An im2col matrix (vec4 rows) and the GEMM, for CPU devices, where wide loads are
            // what pays (lavapipe loads a scalar one lane at a time); group 1 only, else the
            // next that suits. The sizes of these two are the GEMM's.
            KernelVariant(name: "im2col", shader: "im2col", defines: [:], width: 8, height: 1, rows: 8, columns: 4,
                          suits: { device, rows, _ in !device.prefersSharedMemory && rows >= 8 }),
            KernelVariant(name: "blocked", shader: "conv2d", defines: ["OCB": "8", "PX": "4"], width: 64, height: 1, rows: 8, columns: 4,
                          suits: { device, rows, _ in device.prefersSharedMemory && rows >= 8 }),
            // The same blocks 8 invocations wide, for CPU devices (see "registers").
            KernelVariant(name: "lanes", shader: "conv2d", defines: ["OCB": "8", "PX": "4"], width: 8, height: 1, rows: 8, columns: 4,
                          suits: { _, rows, _ in rows >= 8 }),
            // 4 channels × 8 pixels an invocation for the few output channels of an image head
            // (RGB out) that Winograd does not take, on CPU devices: 8 input loads feed 32 sums,
            // where "narrow" has 4 feed 4.
            KernelVariant(name: "quad", shader: "conv2d", defines: ["OCB": "4", "PX": "8"], width: 8, height: 1, rows: 4, columns: 8,
                          suits: { device, rows, _ in !device.prefersSharedMemory && rows >= 3 }),
            KernelVariant(name: "narrow", shader: "conv2d", defines: ["OCB": "1", "PX": "4"], width: 64, height: 1, rows: 1, columns: 4,
                          suits: { _, _, _ in true }),
        ],
        // ConvTranspose: a GEMM (Wᵀ·X, weights transposed once) and a gather of each output's
        // taps, for group 1; else the direct sum per output (conv_transpose.comp). Only the
        // defines and the choice matter here: the sizes are the GEMM's and the 1-D shader's.
        "convTranspose": [
            KernelVariant(name: "gemm", shader: "conv_transpose", defines: ["FROM_COLUMNS": "1"], width: 8, height: 1, rows: 8,
                          columns: 4, suits: { _, _, _ in true }),
            KernelVariant(name: "direct", shader: "conv_transpose", defines: ["FROM_COLUMNS": "0"], width: 256, height: 1, rows: 1,
                          columns: 1, suits: { _, _, _ in true }),
        ],
        // Strided copies (Transpose, Concat, Slice, Expand, DepthToSpace…): an invocation copies
        // a run of `columns` elements, paying the index divisions once a run. Runs of 16 on CPU
        // devices, where an integer division is a scalar loop over the lanes; one element an
        // invocation elsewhere, so that neighbouring lanes touch neighbouring words.
        "copy": [
            KernelVariant(name: "runs", shader: "copy", defines: ["RUN": "16"], width: 64, height: 1, rows: 1, columns: 16,
                          suits: { device, _, _ in device.kind == "cpu" }),
            KernelVariant(name: "elements", shader: "copy", defines: ["RUN": "1"], width: 256, height: 1, rows: 1, columns: 1,
                          suits: { _, _, _ in true }),
        ],
        // Broadcast binary ops (Add, Mul, comparisons…): an invocation computes a run of `columns`
        // outputs along the last dim, as "copy" does and for the same reasons.
        "binary": [
            KernelVariant(name: "runs", shader: "binary", defines: ["RUN": "16"], width: 64, height: 1, rows: 1, columns: 16,
                          suits: { device, _, _ in device.kind == "cpu" }),
            KernelVariant(name: "elements", shader: "binary", defines: ["RUN": "1"], width: 256, height: 1, rows: 1, columns: 1,
                          suits: { _, _, _ in true }),
        ],
        // RNN, GRU and LSTM steps (Recurrent.swift): rows are directions × batch entries, columns
        // the hidden size. On GPUs, up to 256 hidden units make a step too little work to pay
        // for a dispatch and a pipeline barrier of its own: one dispatch runs every step, a
        // workgroup per direction and batch entry. Larger ones, and every size on CPU devices,
        // spread each step over the whole device: on lavapipe, crnn's LSTM (80 steps, hidden 96,
        // both directions) took 1.5× the wall time and 1.17× the CPU time in one dispatch (its
        // workgroup barriers run as coroutine switches), though 29% fewer instructions.
        "recurrent": [
            KernelVariant(name: "sequence", shader: "recurrent", defines: ["SEQUENCE": "1"], width: 64, height: 1, rows: 1, columns: 1,
                          suits: { device, _, hidden in device.prefersSharedMemory && hidden <= 256 }),
            KernelVariant(name: "steps", shader: "recurrent", defines: [:], width: 64, height: 1, rows: 1, columns: 1,
                          suits: { _, _, _ in true }),
        ],
        // The integer products (MatMulInteger, QLinearMatMul, ConvInteger, QLinearConv; IntegerDot.swift):
        // packed 8-bit dot products wherever the device offers them, the operands packed 4 values
        // a word (weights once); else each 8-bit value widened to a word and multiplied, in the
        // ops' own shaders (matmul_integer, conv_integer). Only the choice matters here. Offered
        // is enough: a packed word is one load where widened values are four, which pays even
        // where the device emulates the dot products (its "accelerated" properties false):
        // lavapipe ran a MatMulInteger 512×768×768 in 0.2× the widened kernel's time.
        "integerGemm": [
            KernelVariant(name: "dot4x8", shader: "matmul_dot4x8", defines: [:], width: 256, height: 1, rows: 1, columns: 1,
                          suits: { device, _, _ in device.integerDotProduct }),
            KernelVariant(name: "widened", shader: "", defines: [:], width: 256, height: 1, rows: 1, columns: 1,
                          suits: { _, _, _ in true }),
        ],
        // Row reductions (normalize, softmax, reduce; `shader` is the op's): rows.glsl's modes.
        // One invocation a row suits short rows on CPU devices (no barriers); else one workgroup
        // a row, its width chosen by `VulkanKernelContext.dispatchRows`.
        "rows": [
            KernelVariant(name: "invocation", shader: "", defines: ["ROW_GROUP": "0"], width: 64, height: 1, rows: 1, columns: 1,
                          suits: { device, work, _ in work <= (device.prefersSharedMemory ? 64 : 8192) }),
            KernelVariant(name: "workgroup", shader: "", defines: ["ROW_GROUP": "1"], width: 256, height: 1, rows: 1, columns: 1,
                          suits: { _, _, _ in true }),
        ],
    ]

    /// Forced variants from `spec` ("gemm=tiled,conv=narrow"); throws on an unknown family or variant.
    static func parse(_ spec: String) throws -> [String: String] {
        var forced: [String: String] = [:]
        for item in spec.split(separator: ",") {
            let parts = item.split(separator: "=", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2, let variants = table[parts[0]] else {
                throw VonnxError.invalidArgument("Vulkan: kernel variant '\(item)' is not FAMILY=VARIANT with FAMILY one of \(table.keys.sorted())")
            }
            guard variants.contains(where: { $0.name == parts[1] }) else {
                throw VonnxError.invalidArgument("Vulkan: \(parts[0]) has no variant '\(parts[1])'; it has \(variants.map(\.name))")
            }
            forced[parts[0]] = parts[1]
        }
        return forced
    }

    /// The variant of `family` for a problem of `rows` rows and `columns` columns: the forced
    /// one, else the first that suits. Of those, only the ones `applies` to the problem (the
    /// forced one too; the last always applies).
    static func choose(_ family: String, rows: Int, columns: Int = .max, device: VulkanDevice,
                       where applies: (KernelVariant) -> Bool = { _ in true }) -> KernelVariant {
        let variants = table[family]!
        if let forced = device.forcedVariants[family], let v = variants.first(where: { $0.name == forced }), applies(v) { return v }
        return variants.first { $0.suits(device.properties, rows, columns) && applies($0) } ?? variants.last!
    }
}

extension VulkanKernelContext {
    /// Records one dispatch of `variant` (its defines plus `defines`) covering `rows` × `columns`
    /// outputs for each of `batch` workgroup layers; throws past the device's grid limits.
    func dispatch(_ variant: KernelVariant, defines: [String: String], buffers: [VulkanBuffer], push: PushConstants,
                  columns: Int, rows: Int, batch: Int) throws {
        let groups = [(columns, variant.width * variant.columns), (rows, variant.height * variant.rows), (batch, 1)]
            .map { ($0.0 + $0.1 - 1) / $0.1 }
        guard groups.allSatisfy({ $0 <= 65535 }) else {
            throw error("[\(batch)×]\(rows)×\(columns) outputs are over the Vulkan dispatch limit")
        }
        let p = try device.pipeline(variant.shader, defines: variant.defines.merging(defines) { $1 }, bindings: buffers.count,
                                    workgroup: (UInt32(variant.width), UInt32(variant.height), 1))
        try recorder.dispatch(p, buffers: buffers, push: push.words, groups: (UInt32(groups[0]), UInt32(groups[1]), UInt32(groups[2])))
    }
}
