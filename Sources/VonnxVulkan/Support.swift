import CVulkan
import Glibc
import VonnxIR

/// A pthread mutex; `withLock` is the only way in.
final class Lock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    init() {
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func withLock<R>(_ body: () throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}

/// Throws a `VonnxError` naming the Vulkan call and its result when `result` is not VK_SUCCESS.
@inline(__always) func check(_ result: VkResult, _ call: @autoclosure () -> String) throws {
    guard result == VK_SUCCESS else {
        throw VonnxError.invalidArgument("Vulkan: \(call()) failed with \(name(of: result))")
    }
}

/// The name of a VkResult error code (the number for rare ones).
func name(of result: VkResult) -> String {
    let names: [Int32: String] = [
        -1: "VK_ERROR_OUT_OF_HOST_MEMORY", -2: "VK_ERROR_OUT_OF_DEVICE_MEMORY", -3: "VK_ERROR_INITIALIZATION_FAILED",
        -4: "VK_ERROR_DEVICE_LOST", -5: "VK_ERROR_MEMORY_MAP_FAILED", -6: "VK_ERROR_LAYER_NOT_PRESENT",
        -7: "VK_ERROR_EXTENSION_NOT_PRESENT", -8: "VK_ERROR_FEATURE_NOT_PRESENT", -9: "VK_ERROR_INCOMPATIBLE_DRIVER",
        -10: "VK_ERROR_TOO_MANY_OBJECTS", 2: "VK_TIMEOUT",
    ]
    return names[result.rawValue] ?? "VkResult \(result.rawValue)"
}

/// A NUL-terminated fixed-size C string field (a tuple) as a Swift String.
func string<T>(fromCTuple tuple: T) -> String {
    withUnsafeBytes(of: tuple) { raw in
        let bytes = raw.bindMemory(to: UInt8.self)
        let end = bytes.firstIndex(of: 0) ?? bytes.count
        return String(decoding: bytes[..<end], as: UTF8.self)
    }
}

/// Calls `body` with an array of C strings that live for the call.
func withCStrings<R>(_ strings: [String], _ body: ([UnsafePointer<CChar>?]) throws -> R) rethrows -> R {
    let copies = strings.map { UnsafePointer(strdup($0)) }
    defer { copies.forEach { free(UnsafeMutablePointer(mutating: $0)) } }
    return try body(copies)
}

/// "major.minor.patch" of a Vulkan version number.
func versionString(_ v: UInt32) -> String { "\((v >> 22) & 0x7F).\((v >> 12) & 0x3FF).\(v & 0xFFF)" }
