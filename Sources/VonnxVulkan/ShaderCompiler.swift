import CGlslang
import VonnxIR

/// `glslang_initialize_process`, once for the process.
private let glslangProcess: Int32 = glslang_initialize_process()

/// Compiles the embedded GLSL compute shaders to SPIR-V with glslang's C API. Compilations
/// are serialized; their SPIR-V is cached in memory by (shader name, defines) and on disk by
/// the SHA-256 of the source, defines, glslang version and compile options.
final class ShaderCompiler: @unchecked Sendable {
    /// The compiler of devices that use the default cache folder.
    static let shared = ShaderCompiler(disk: PipelineDiskCache(directory: PipelineDiskCache.resolve(nil)))

    /// Where SPIR-V came from, counted since this compiler was made.
    struct Statistics: Equatable, Sendable {
        var compiled = 0, fromDisk = 0, fromMemory = 0
    }

    /// What is fixed about every compilation: in the disk key, so a different glslang or
    /// different options never reuse an entry.
    private static let configuration = "glslang \(GLSLANG_VERSION_MAJOR).\(GLSLANG_VERSION_MINOR).\(GLSLANG_VERSION_PATCH)"
        + "\(GLSLANG_VERSION_FLAVOR) glsl450 vulkan1.1 spirv1.3 messages \(rules)\n"
    private static let rules = GLSLANG_MSG_SPV_RULES_BIT.rawValue | GLSLANG_MSG_VULKAN_RULES_BIT.rawValue

    let disk: PipelineDiskCache
    private let lock = Lock()
    private var cache: [String: [UInt32]] = [:]
    private var counts = Statistics()

    init(disk: PipelineDiskCache) {
        _ = glslangProcess
        self.disk = disk
    }

    var statistics: Statistics { lock.withLock { counts } }

    /// The cache key of a shader variant: its name and its defines in sorted order.
    static func key(_ shader: String, _ defines: [String: String]) -> String {
        ([shader] + defines.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }).joined(separator: ";")
    }

    /// `source` (a shader, or its defines, naming int64_t or uint64_t: a wide element type) with
    /// the extension those types need after its `#version` line, where extensions go.
    static func enablingInt64(_ source: String) -> String {
        let lines = source.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
        guard lines.count == 2, lines[0].hasPrefix("#version") else { return source }
        return "\(lines[0])\n#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require\n\(lines[1])"
    }

    /// SPIR-V words of embedded shader `name` with each define prepended as `#define K V`.
    func spirv(_ name: String, defines: [String: String]) throws -> [UInt32] {
        try spirv(source: Self.source(name), key: Self.key(name, defines), defines: defines)
    }

    /// SPIR-V words of generated GLSL `text` (its `#include`s name embedded files), cached by the text.
    func spirv(generated text: String) throws -> [UInt32] {
        try spirv(source: Self.expandIncludes(text), key: Self.key(generated: text), defines: [:])
    }

    /// The cache key of a generated shader: its text, which no `key(_:_:)` equals (a name has no newline).
    static func key(generated text: String) -> String { "generated\n" + text }

    private func spirv(source: String, key: String, defines: [String: String]) throws -> [UInt32] {
        try lock.withLock {
            if let words = cache[key] { counts.fromMemory += 1; return words }
            let preamble = defines.sorted { $0.key < $1.key }.map { "#define \($0.key) \($0.value)\n" }.joined()
            let source = (preamble + source).contains("int64_t") ? Self.enablingInt64(source) : source
            let diskKey = SHA256.hash(Array((Self.configuration + preamble + "\n" + source).utf8))
            let file = "spirv-" + hexString(diskKey)
            let words: [UInt32]
            if let bytes = disk.load(file, key: diskKey), let loaded = Self.words(bytes) {
                words = loaded
                counts.fromDisk += 1
            } else {
                words = try Self.compile(source, preamble: preamble, label: key)
                counts.compiled += 1
                disk.store(file, key: diskKey, payload: words.withUnsafeBytes { Array($0) })
            }
            cache[key] = words
            return words
        }
    }

    /// Embedded shader `name` with each `#include "FILE"` line replaced by embedded FILE's text.
    static func source(_ name: String) throws -> String {
        guard let text = EmbeddedShaders.sources[name] else {
            throw VonnxError.invalidArgument("Vulkan: no embedded shader '\(name)'")
        }
        return try expandIncludes(text)
    }

    /// `text` with each `#include "FILE"` line replaced by embedded FILE's text.
    static func expandIncludes(_ text: String) throws -> String {
        try text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            guard line.hasPrefix("#include \""), line.hasSuffix("\"") else { return String(line) }
            return try source(String(line.dropFirst(10).dropLast()))
        }.joined(separator: "\n")
    }

    /// The SPIR-V words in `bytes` when they are whole words that start with the SPIR-V magic.
    private static func words(_ bytes: [UInt8]) -> [UInt32]? {
        guard bytes.count >= 20, bytes.count % 4 == 0 else { return nil }
        let words = bytes.withUnsafeBytes { raw in (0..<bytes.count / 4).map { raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self) } }
        return words[0] == 0x0723_0203 ? words : nil
    }

    private static func compile(_ source: String, preamble: String, label: String) throws -> [UInt32] {
        try source.withCString { code in
            try preamble.withCString { pre in
                var input = glslang_input_t()
                input.language = GLSLANG_SOURCE_GLSL
                input.stage = GLSLANG_STAGE_COMPUTE
                input.client = GLSLANG_CLIENT_VULKAN
                input.client_version = GLSLANG_TARGET_VULKAN_1_1
                input.target_language = GLSLANG_TARGET_SPV
                input.target_language_version = GLSLANG_TARGET_SPV_1_3
                input.code = code
                input.default_version = 450
                input.default_profile = GLSLANG_NO_PROFILE
                input.messages = glslang_messages_t(rawValue: rules)
                input.resource = glslang_default_resource()
                guard let shader = glslang_shader_create(&input) else {
                    throw VonnxError.invalidArgument("glslang: cannot create a shader for \(label)")
                }
                defer { glslang_shader_delete(shader) }
                glslang_shader_set_preamble(shader, pre)
                func log() -> String { glslang_shader_get_info_log(shader).map { String(cString: $0) } ?? "" }
                guard glslang_shader_preprocess(shader, &input) != 0 else {
                    throw VonnxError.invalidArgument("glslang: preprocessing \(label) failed: \(log())")
                }
                guard glslang_shader_parse(shader, &input) != 0 else {
                    throw VonnxError.invalidArgument("glslang: compiling \(label) failed: \(log())")
                }
                guard let program = glslang_program_create() else {
                    throw VonnxError.invalidArgument("glslang: cannot create a program for \(label)")
                }
                defer { glslang_program_delete(program) }
                glslang_program_add_shader(program, shader)
                guard glslang_program_link(program, Int32(bitPattern: rules)) != 0 else {
                    let msg = glslang_program_get_info_log(program).map { String(cString: $0) } ?? ""
                    throw VonnxError.invalidArgument("glslang: linking \(label) failed: \(msg)")
                }
                glslang_program_SPIRV_generate(program, GLSLANG_STAGE_COMPUTE)
                // The size is in 32-bit words.
                let count = glslang_program_SPIRV_get_size(program)
                var words = [UInt32](repeating: 0, count: count)
                words.withUnsafeMutableBufferPointer { glslang_program_SPIRV_get(program, $0.baseAddress) }
                return words
            }
        }
    }
}
