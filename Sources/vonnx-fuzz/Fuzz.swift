import Glibc
import Vonnx
import VonnxFormat

/// The fuzz targets: bytes → a model loaded and a CPU session created (`model`), or bytes →
/// a .npy and a TensorProto parsed (`input`). Errors are the expected outcome; a crash, a hang
/// or a leak is a finding. `scripts/fuzz.sh` builds this with libFuzzer (`-DFUZZING`); the
/// plain build replays files instead: `vonnx-fuzz model|input FILE...`.
enum FuzzTarget: String {
    case model, input

    /// Small limits, so that a tiny file asking for gigabytes is a quick error, not a libFuzzer
    /// out-of-memory report (its default limit is 2 GB).
    static let options = SessionOptions(threads: 1, backend: .cpu, limits: Limits(maxTensorBytes: 16 << 20))

    func run(_ bytes: [UInt8]) {
        switch self {
        case .model: _ = try? Session(bytes: bytes, options: Self.options)
        case .input:
            _ = try? Npy.decode(bytes: bytes)
            _ = try? TensorProtoCodec.decode(bytes: bytes)
        }
    }
}

#if FUZZING
/// libFuzzer's entry point (in the runtime `-sanitize=fuzzer` links). SwiftPM names the
/// executable's entry point itself, so libFuzzer's `main` is not used: `main` calls this.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                         _ target: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

/// The target `VONNX_FUZZ` names (default `model`).
let fuzzTarget = getenv("VONNX_FUZZ").flatMap { FuzzTarget(rawValue: String(cString: $0)) } ?? .model

/// One input, for libFuzzer.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    fuzzTarget.run(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
}
#endif

@main
struct FuzzMain {
    static func main() {
        #if FUZZING
        var argc = CommandLine.argc, argv = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzOne))
        #else
        let arguments = CommandLine.arguments.dropFirst()
        guard let name = arguments.first, let target = FuzzTarget(rawValue: name) else {
            print("usage: vonnx-fuzz model|input FILE...")
            exit(64)
        }
        for path in arguments.dropFirst() {
            guard let file = fopen(path, "rb") else { print("cannot open \(path)"); exit(1) }
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            while case let n = fread(&chunk, 1, chunk.count, file), n > 0 { bytes += chunk[..<n] }
            fclose(file)
            target.run(bytes)
            print("\(path): no crash")
        }
        #endif
    }
}
