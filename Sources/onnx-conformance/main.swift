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
    @Option(help: "The tests that must pass, one a line; exit 1 when one does not, or when a test passes that is not listed.")
    var expect: String?
    @Option(help: "The tests known not to pass, each 'name  # reason'; with --expect, every test must be in one of the two lists.")
    var expectFailing: String?
    @Flag(help: "Rewrite the --expect and --expect-failing lists from this run (a failing test keeps its recorded reason).")
    var update = false
    @Option(help: "CPU threads per session.") var threads = 1
    @Flag(help: "Print every test, not only failures.") var verbose = false

    func run() throws {
        let all = try TestCase.discover(in: data)
        let cases = all.filter { c in filters.isEmpty || filters.contains { c.name.contains($0) } }
        guard !cases.isEmpty else { throw ValidationError("no tests found under \(data)") }
        if update && expect == nil { throw ValidationError("--update rewrites the --expect list: name it") }
        var passed: [String] = []
        var failures: [String: String] = [:]
        var shapesOnly = 0
        for c in cases {
            var options = SessionOptions.fromEnvironment()
            (options.threads, options.backend, options.allowFallback) = (threads, backend, backend != .vulkan)
            if let device { options.vulkanDevice = device }
            let outcome = c.run(options: options)
            switch outcome {
            case .pass:
                passed.append(c.name)
                if c.checksShapesOnly { shapesOnly += 1 }
                if verbose { print("PASS \(c.name)") }
            case .fail(let why): failures[c.name] = why; print("FAIL \(c.name): \(why)")
            case .unsupported(let why): failures[c.name] = why; if verbose { print("UNSUPPORTED \(c.name): \(why)") }
            }
        }
        print("conformance[\(backend.rawValue)]: \(passed.count) passed, \(failures.count) failed")
        if shapesOnly > 0 {
            print("  \(shapesOnly) of the passes are light/* models whose expected outputs are constant (their weights come from"
                  + " ConstantOfShape): they check shapes and plumbing, not numbers (scripts/check-resnet50.sh is the numeric check)")
        }
        guard let expect else { return }
        let listed = try Expectations(passing: expect, failing: expectFailing, order: all.map(\.name), running: Set(cases.map(\.name)))
        if update {
            try listed.write(passing: passed, failures: failures, to: expect, failing: expectFailing)
            return print("updated \(expect)" + (expectFailing.map { " and \($0)" } ?? ""))
        }
        let problems = listed.problems(passing: Set(passed))
        for p in problems { print(p) }
        if !problems.isEmpty {
            print("the lists must say what passes: fix the regression, or run again with --update and commit the lists with the reason")
            throw ExitCode(1)
        }
    }
}

/// The committed lists of tests that pass and of tests known not to (each with a reason),
/// restricted to the tests this run covers.
struct Expectations {
    let passing: [String]
    /// Name → recorded reason; nil when there is no such list.
    let failing: [String: String]?
    /// Every test in discovery order, the order the lists are written in.
    let order: [String]
    let running: Set<String>

    init(passing path: String, failing failingPath: String?, order: [String], running: Set<String>) throws {
        passing = try readLines(path)
        failing = try failingPath.map { path in
            Dictionary(try readLines(path).map { line in
                let parts = line.split(separator: "#", maxSplits: 1)
                return (String(parts[0]).trimmingWhitespace(), parts.count > 1 ? String(parts[1]).trimmingWhitespace() : "")
            }, uniquingKeysWith: { a, _ in a })
        }
        self.order = order; self.running = running
    }

    /// One line for each listed test that does not pass, each passing test that is not listed,
    /// and (with a failing list) each test in neither list or listed as failing with no reason.
    func problems(passing passed: Set<String>) -> [String] {
        let listedPassing = Set(passing)
        var lines: [String] = []
        let regressed = passing.filter { running.contains($0) && !passed.contains($0) }
        if !regressed.isEmpty { lines.append("REGRESSED (listed as passing, not passing): \(regressed.joined(separator: " "))") }
        let newlyPassing = passed.filter { !listedPassing.contains($0) }.sorted()
        if !newlyPassing.isEmpty { lines.append("NEWLY PASSING (not listed as passing): \(newlyPassing.joined(separator: " "))") }
        guard let failing else { return lines }
        let unlisted = running.filter { !listedPassing.contains($0) && failing[$0] == nil && !passed.contains($0) }.sorted()
        if !unlisted.isEmpty { lines.append("UNLISTED (in neither list): \(unlisted.joined(separator: " "))") }
        let noReason = failing.filter { running.contains($0.key) && $0.value.isEmpty }.keys.sorted()
        if !noReason.isEmpty { lines.append("NO REASON (listed as failing without '# reason'): \(noReason.joined(separator: " "))") }
        return lines
    }

    /// Writes the lists anew: this run's passes, and its failures with the reason recorded
    /// before (a test that was listed as passing is marked REGRESSED), else the run's own.
    /// Tests outside this run keep their entries.
    func write(passing passed: [String], failures: [String: String], to path: String, failing failingPath: String?) throws {
        let listedPassing = Set(passing), passedNow = Set(passed)
        try writeLines(order.filter { running.contains($0) ? passedNow.contains($0) : listedPassing.contains($0) }, to: path)
        guard let failingPath else { return }
        var entries = (failing ?? [:]).filter { !running.contains($0.key) }
        for (name, why) in failures {
            let oneLine = String(why.map { $0 == "\n" || $0 == "#" ? " " : $0 }.prefix(200))
            entries[name] = failing?[name].flatMap { $0.isEmpty ? nil : $0 }
                ?? (listedPassing.contains(name) ? "REGRESSED: \(oneLine)" : oneLine)
        }
        try writeLines(order.compactMap { name in entries[name].map { "\(name)  # \($0)" } }, to: failingPath)
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

    /// True for a light model whose expected outputs each hold one repeated value (its
    /// weights are constant): a pass then checks shapes, not arithmetic.
    var checksShapesOnly: Bool {
        generatedInput && dataSets.allSatisfy { set in
            set.outputs.allSatisfy { file in
                guard let t = try? TensorProtoCodec.read(path: file).tensor, t.dataType.isFloatingPoint else { return false }
                let values = t.doubles()
                return values.allSatisfy { $0 == values.first }
            }
        }
    }

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

/// Nil when `actual` matches `expected` (rtol 1e-3, atol 1e-5 for floats, rtol 2⁻⁷ for
/// bfloat16, whose one rounding step is up to 2⁻⁸ relative; exact otherwise), else the reason
/// with the worst error.
func compare(_ actual: Tensor, _ expected: Tensor) -> String? {
    guard actual.dataType == expected.dataType else { return "element type \(actual.dataType), expected \(expected.dataType)" }
    guard actual.shape == expected.shape else { return "shape \(actual.shape), expected \(expected.shape)" }
    if actual.dataType == .string {
        return actual.storage.strings == expected.storage.strings ? nil : "strings differ"
    }
    let a = actual.doubles(), e = expected.doubles()
    let tolerant = actual.dataType.isFloatingPoint, rtol = actual.dataType == .bfloat16 ? 0x1p-7 : 1e-3
    var worst = 0.0, worstIndex = -1
    for i in 0..<a.count {
        if a[i].isNaN && e[i].isNaN { continue }
        if a[i] == e[i] { continue }
        let err = abs(a[i] - e[i])
        let excess = err.isNaN ? .infinity : err - (tolerant ? 1e-5 + rtol * abs(e[i]) : 0)
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
