import Glibc
import Vonnx

/// `--device auto`: the GPU of this process when a node runs one task per GPU, chosen from
/// the scheduler's environment.
public enum DeviceAssignment {
    /// A Vulkan device as the choice sees it.
    public struct Device: Sendable, Equatable {
        /// Position in the driver's enumeration order (what `--device` may name).
        public let index: Int
        /// "discrete", "integrated", "virtual", "cpu" or "other"; "cpu" devices are never picked.
        public let kind: String
        /// The device UUID (VkPhysicalDeviceIDProperties.deviceUUID), when the driver reports it.
        public let uuid: [UInt8]?

        public init(index: Int, kind: String, uuid: [UInt8]? = nil) {
            self.index = index; self.kind = kind; self.uuid = uuid
        }
    }

    /// The variables `choose` reads.
    public static let variables = ["CUDA_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "SLURM_LOCALID", "LOCAL_RANK"]

    /// The index of the device to use among `devices`, or nil when the environment names
    /// none (then the usual default applies). The local rank is SLURM_LOCALID, else
    /// LOCAL_RANK. A CUDA_VISIBLE_DEVICES (else ROCR_VISIBLE_DEVICES) list gives the GPUs
    /// this task may use: its one entry, or the entry at the local rank; an entry is a GPU
    /// index (counting GPUs only, in enumeration order) or a UUID or UUID prefix
    /// ("GPU-8a3c…", dashes ignored). Without a list, the local rank indexes the GPUs.
    /// Throws `.usage` naming the variable when it cannot be honoured.
    public static func choose(environment env: [String: String], devices: [Device]) throws(BatchError) -> Int? {
        let gpus = devices.filter { $0.kind != "cpu" }
        var rank: (name: String, value: Int)?
        for name in ["SLURM_LOCALID", "LOCAL_RANK"] {
            guard rank == nil, let text = env[name] else { continue }
            guard let value = Int(text), value >= 0 else { throw .usage("--device auto: \(name)='\(text)' is not a rank") }
            rank = (name, value)
        }
        guard let listName = ["CUDA_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES"].first(where: { env[$0] != nil }) else {
            guard let rank else { return nil }
            guard rank.value < gpus.count else {
                throw .usage("--device auto: \(rank.name)=\(rank.value) but this node has \(gpus.count) GPU(s)")
            }
            return gpus[rank.value].index
        }
        let list = env[listName]!.split(separator: ",").map { $0.trimmingWhitespace() }.filter { !$0.isEmpty }
        guard !list.isEmpty else { throw .usage("--device auto: \(listName) lists no device") }
        let at = list.count == 1 ? 0 : rank?.value ?? 0
        if let rank, at >= list.count {
            throw .usage("--device auto: \(rank.name)=\(at) but \(listName) lists \(list.count) device(s)")
        }
        let entry = list[at]
        if let i = Int(entry) {
            guard i >= 0, i < gpus.count else { throw .usage("--device auto: \(listName) names GPU \(i) but Vulkan sees \(gpus.count) GPU(s)") }
            return gpus[i].index
        }
        var hex = entry.lowercased()
        if hex.hasPrefix("gpu-") { hex.removeFirst(4) }
        hex.removeAll { $0 == "-" }
        let digits = Array("0123456789abcdef")
        let matches = gpus.filter { gpu in
            gpu.uuid.map { String($0.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] }).hasPrefix(hex) } ?? false
        }
        guard !hex.isEmpty, matches.count == 1 else {
            let why = gpus.contains { $0.uuid != nil } ? (matches.isEmpty ? "no GPU has that UUID" : "several GPUs match") : "no Vulkan device UUID is known to match it against"
            throw .usage("--device auto: \(listName) entry '\(entry)': \(why)")
        }
        return matches[0].index
    }

    /// `choose` over this process's environment and the Vulkan devices present.
    public static func fromProcess() throws -> Int? {
        var env: [String: String] = [:]
        for key in variables { if let value = getenv(key) { env[key] = String(cString: value) } }
        if env.isEmpty { return nil }
        let devices = try Session.vulkanDevices().map { Device(index: $0.index, kind: $0.kind, uuid: $0.uuid) }
        return try choose(environment: env, devices: devices)
    }
}
