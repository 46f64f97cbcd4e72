/// Why a batch job cannot go on; each maps to a documented exit code of `onnx-run`.
public enum BatchError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Bad flags, job file, manifest, model or input folder (exit 2).
    case usage(String)
    /// An output could not be written, e.g. a full disk (exit 4).
    case output(String)

    public var description: String {
        switch self {
        case .usage(let m), .output(let m): m
        }
    }
}
