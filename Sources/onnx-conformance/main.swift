import ArgumentParser
import Glibc
import Vonnx
import VonnxFormat

/// Runs the ONNX backend test data (node, simple, pytorch-converted, pytorch-operator and
/// the light models) and reports, per test, pass, fail (with the worst error) or unsupported.
@main
struct Conformance: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "onnx-conformance",
        abstract: "Run the ONNX backend tests against a Vonnx backend.")

    @Option(help: "Backend to test: cpu, vulkan (no CPU fallback: a model with other nodes is unsupported) or auto.")
    var backend: Backend = .cpu
    @Option(help: "Vulkan device: an index or a name substring (default: VONNX_VULKAN_DEVICE, else the best GPU).")
    var device: String?
    @Option(help: "The onnx wheel's backend/test/data folder.")
    var data = ".testdata/onnx-1.22.0/onnx/backend/test/data"
    @Option(name: .customLong("filter"), help: "Run only tests whose name contains this (repeatable).")
    var filters: [String] = []
    @Option(help: "A file listing tests that must pass; exit 1 when one does not.") var expect: String?
    @Option(help: "Write the names of the passing tests to this file.") var update: String?
    @Option(help: "CPU threads per session.") var threads = 1
    @Flag(help: "Print every test, not only failures.") var verbose = false

    func run() throws {
        let cases = try TestCase.discover(in: data).filter { c in filters.isEmpty || filters.contains { c.name.contains($0) } }
        guard !cases.isEmpty else { throw ValidationError("no tests found under \(data)") }
        var passed: [String] = []
        var failed = 0
        for c in cases {
            var options = SessionOptions(threads: threads, backend: backend, allowFallback: backend != .vulkan)
            if let device { options.vulkanDevice = device }
            let outcome = c.run(options: options)
            switch outcome {
            case .pass: passed.append(c.name); if verbose { print("PASS \(c.name)") }
            case .fail(let why): failed += 1; print("FAIL \(c.name): \(why)")
            case .unsupported(let why): failed += 1; if verbose { print("UNSUPPORTED \(c.name): \(why)") }
            }
        }
        if let update { try writeLines(passed, to: update) }
        print("conformance[\(backend.rawValue)]: \(passed.count) passed, \(failed) failed")
        if let expect {
            let passing = Set(passed)
            let regressed = try readLines(expect).filter { !passing.contains($0) && (filters.isEmpty || filters.contains(where: $0.contains)) }
            if !regressed.isEmpty {
                print("REGRESSED (listed in \(expect), not passing): \(regressed.joined(separator: " "))")
                throw ExitCode(1)
            }
        }
    }
}

extension Backend: ExpressibleByArgument {}

enum Outcome { case pass, fail(String), unsupported(String) }

/// One test: a model and its data sets (inputs and expected outputs as TensorProto files),
/// or a light model whose input is generated.
struct TestCase {
    let name: String
    let model: String
    /// Per data set: input files and expected-output files, in index order.
    let dataSets: [(inputs: [String], outputs: [String])]
    /// Light models: expected outputs with a generated input.
    let generatedInput: Bool

    static func discover(in root: String) throws -> [TestCase] {
        var cases: [TestCase] = []
        for suite in ["node", "simple", "pytorch-converted", "pytorch-operator"] {
            for dir in listDirectory("\(root)/\(suite)").sorted() {
                let path = "\(root)/\(suite)/\(dir)"
                let sets = listDirectory(path).filter { $0.hasPrefix("test_data_set_") }.sorted().map { set in
                    let files = listDirectory("\(path)/\(set)").sorted { numericOrder($0, $1) }
                    return (files.filter { $0.hasPrefix("input_") }.map { "\(path)/\(set)/\($0)" },
                            files.filter { $0.hasPrefix("output_") }.map { "\(path)/\(set)/\($0)" })
                }
                let name = suite == "node" ? dir : "\(suite)/\(dir)"
                cases.append(TestCase(name: name, model: "\(path)/model.onnx", dataSets: sets, generatedInput: false))
            }
        }
        for file in listDirectory("\(root)/light").sorted() where file.hasSuffix(".onnx") {
            let stem = String(file.dropLast(5))
            cases.append(TestCase(name: "light/\(stem)", model: "\(root)/light/\(file)",
                                  dataSets: [([], ["\(root)/light/\(stem)_output_0.pb"])], generatedInput: true))
        }
        return cases
    }

    func run(options: SessionOptions) -> Outcome {
        let session: Session
        do { session = try Session(path: model, options: options) } catch let e as VonnxError {
            if case .unsupportedOp = e { return .unsupported("\(e)") }
            return .fail("create: \(e)")
        } catch let e as UnsupportedOnVulkan {
            return .unsupported("\(e)")
        } catch { return .fail("create: \(error)") }
        do {
            for (inputs, outputs) in dataSets {
                var feeds: [String: Tensor] = [:]
                if generatedInput {
                    for info in session.inputs { feeds[info.name] = try generatedTensor(info) }
                } else {
                    guard inputs.count <= session.inputs.count else {
                        return .unsupported("\(inputs.count) inputs given, model takes \(session.inputs.count)")
                    }
                    for (info, file) in zip(session.inputs, inputs) {
                        feeds[info.name] = try TensorProtoCodec.read(path: file).tensor
                    }
                }
                let results = try session.runOrdered(feeds)
                for (i, file) in outputs.enumerated() {
                    let expected = try TensorProtoCodec.read(path: file).tensor
                    guard i < results.count else { return .fail("output \(i) missing") }
                    if let why = compare(results[i].tensor, expected) { return .fail("output \(i) '\(results[i].name)': \(why)") }
                }
            }
            return .pass
        } catch let e as VonnxError {
            if case .unsupportedOp = e { return .unsupported("\(e)") }
            return .fail("\(e)")
        } catch { return .fail("\(error)") }
    }

    /// The onnx runner's dummy input for light models: arange(n)/n in the declared shape.
    private func generatedTensor(_ info: ValueInfo) throws -> Tensor {
        guard case .tensor(.float, let dims?)? = info.type else { throw VonnxError.invalidInput("light model input '\(info.name)' is not a float tensor") }
        let shape = dims.map { $0.value ?? 1 }
        let n = shape.reduce(1, *)
        return Tensor(shape: shape, scalars: (0..<n).map { Float(Double($0) / Double(n)) })
    }
}

/// Nil when `actual` matches `expected` (rtol 1e-3, atol 1e-5 for floats; exact otherwise),
/// else the reason with the worst error.
func compare(_ actual: Tensor, _ expected: Tensor) -> String? {
    guard actual.dataType == expected.dataType else { return "element type \(actual.dataType), expected \(expected.dataType)" }
    guard actual.shape == expected.shape else { return "shape \(actual.shape), expected \(expected.shape)" }
    if actual.dataType == .string {
        return actual.storage.strings == expected.storage.strings ? nil : "strings differ"
    }
    let a = actual.doubles(), e = expected.doubles()
    let tolerant = actual.dataType.isFloatingPoint
    var worst = 0.0, worstIndex = -1
    for i in 0..<a.count {
        if a[i].isNaN && e[i].isNaN { continue }
        if a[i] == e[i] { continue }
        let err = abs(a[i] - e[i])
        let excess = err.isNaN ? .infinity : err - (tolerant ? 1e-5 + 1e-3 * abs(e[i]) : 0)
        if excess > 0 && (worstIndex < 0 || excess > worst) { worst = excess; worstIndex = i }
    }
    guard worstIndex >= 0 else { return nil }
    return "at \(worstIndex) got \(a[worstIndex]), expected \(e[worstIndex]) (excess error \(worst))"
}

/// `output_10.pb` sorts after `output_9.pb`.
func numericOrder(_ a: String, _ b: String) -> Bool {
    let na = Int(a.filter(\.isNumber)) ?? 0, nb = Int(b.filter(\.isNumber)) ?? 0
    return na != nb ? na < nb : a < b
}

func listDirectory(_ path: String) -> [String] {
    guard let dir = opendir(path) else { return [] }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}

func readLines(_ path: String) throws -> [String] {
    guard let f = fopen(path, "r") else { throw VonnxError.io(path: path, message: "cannot open") }
    defer { fclose(f) }
    var lines: [String] = []
    var buffer = [CChar](repeating: 0, count: 4096)
    while fgets(&buffer, 4096, f) != nil {
        let line = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self).trimmingWhitespace()
        if !line.isEmpty && !line.hasPrefix("#") { lines.append(line) }
    }
    return lines
}

func writeLines(_ lines: [String], to path: String) throws {
    guard let f = fopen(path, "w") else { throw VonnxError.io(path: path, message: "cannot write") }
    defer { fclose(f) }
    for l in lines { fputs(l + "\n", f) }
}

extension String {
    func trimmingWhitespace() -> String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
