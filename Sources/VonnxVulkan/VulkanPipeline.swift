import CVulkan
import VonnxIR

/// A compute pipeline with its layouts. Owned by the device's cache, destroyed with it.
final class VulkanPipeline: @unchecked Sendable {
    /// Push-constant bytes every pipeline layout reserves (Vulkan's guaranteed minimum).
    static let pushConstantBytes = 128

    let bindings: Int
    let module: VkShaderModule
    let setLayout: VkDescriptorSetLayout
    let layout: VkPipelineLayout
    let pipeline: VkPipeline

    /// Creates the pipeline through `cache`, the device's pipeline cache.
    init(device: VkDevice, cache: VkPipelineCache, spirv: [UInt32], bindings: Int, workgroup: (UInt32, UInt32, UInt32)) throws {
        self.bindings = bindings
        var module: VkShaderModule?
        try spirv.withUnsafeBufferPointer { words in
            var info = VkShaderModuleCreateInfo()
            info.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO
            info.codeSize = words.count * 4  // bytes, not words
            info.pCode = words.baseAddress
            try check(vkCreateShaderModule(device, &info, nil, &module), "vkCreateShaderModule")
        }
        self.module = module!

        var layoutBindings = (0..<bindings).map { i in
            var b = VkDescriptorSetLayoutBinding()
            b.binding = UInt32(i)
            b.descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER
            b.descriptorCount = 1
            b.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT.rawValue
            return b
        }
        var setLayout: VkDescriptorSetLayout?
        var setInfo = VkDescriptorSetLayoutCreateInfo()
        setInfo.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO
        setInfo.bindingCount = UInt32(bindings)
        try layoutBindings.withUnsafeMutableBufferPointer { bp in
            setInfo.pBindings = UnsafePointer(bp.baseAddress)
            try check(vkCreateDescriptorSetLayout(device, &setInfo, nil, &setLayout), "vkCreateDescriptorSetLayout")
        }
        self.setLayout = setLayout!

        var range = VkPushConstantRange()
        range.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT.rawValue
        range.size = UInt32(Self.pushConstantBytes)
        var layout: VkPipelineLayout?
        var sl: VkDescriptorSetLayout? = setLayout
        try withUnsafePointer(to: &sl) { slp in
            try withUnsafePointer(to: &range) { rp in
                var info = VkPipelineLayoutCreateInfo()
                info.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO
                info.setLayoutCount = 1
                info.pSetLayouts = slp
                info.pushConstantRangeCount = 1
                info.pPushConstantRanges = rp
                try check(vkCreatePipelineLayout(device, &info, nil, &layout), "vkCreatePipelineLayout")
            }
        }
        self.layout = layout!

        var sizes: [UInt32] = [workgroup.0, workgroup.1, workgroup.2]
        var entries = (0..<3).map { i in VkSpecializationMapEntry(constantID: UInt32(i), offset: UInt32(i * 4), size: 4) }
        var pipeline: VkPipeline?
        try sizes.withUnsafeMutableBytes { data in
            try entries.withUnsafeMutableBufferPointer { ep in
                var spec = VkSpecializationInfo(mapEntryCount: 3, pMapEntries: UnsafePointer(ep.baseAddress),
                                                dataSize: 12, pData: UnsafeRawPointer(data.baseAddress))
                try withUnsafePointer(to: &spec) { specPtr in
                    try "main".withCString { entry in
                        var stage = VkPipelineShaderStageCreateInfo()
                        stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO
                        stage.stage = VK_SHADER_STAGE_COMPUTE_BIT
                        stage.module = module
                        stage.pName = entry
                        stage.pSpecializationInfo = specPtr
                        var info = VkComputePipelineCreateInfo()
                        info.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO
                        info.stage = stage
                        info.layout = layout
                        try check(vkCreateComputePipelines(device, cache, 1, &info, nil, &pipeline), "vkCreateComputePipelines")
                    }
                }
            }
        }
        self.pipeline = pipeline!
    }

    /// Destroys the Vulkan objects; the device calls this once, when it closes.
    func destroy(_ device: VkDevice) {
        vkDestroyPipeline(device, pipeline, nil)
        vkDestroyPipelineLayout(device, layout, nil)
        vkDestroyDescriptorSetLayout(device, setLayout, nil)
        vkDestroyShaderModule(device, module, nil)
    }
}
