import Glibc
import Vonnx
import VonnxFormat
import VonnxIR
import Synchronization

/// What a batch job does; `onnx-run --batch-input` fills it from flags and a job file.
public struct BatchJobSpec: Sendable {
    /// How each item's outputs are written.
    public enum OutputFormat: String, Sendable, CaseIterable {
        /// One .npy (or TensorProto .pb) file an output.
        case npy, pb
        /// Image-shaped outputs ([1, C, H, W] or [1, H, W, C] per `layout`, C = 1 or 3,
        /// values in [0, 1]) as 8-bit (png) or 16-bit (png16) PNG; other outputs as .npy.
        case png, png16
        /// Image-shaped float outputs (any C) as OpenEXR with float (exr) or half (exrHalf)
        /// channels, values as they are; other outputs as .npy.
        case exr, exrHalf
    }

    public var input: String
    public var outputDir: String
    public var batchSize = 1
    public var shard = Shard.whole
    public var preprocessing = Preprocessing()
    public var format = OutputFormat.npy
    /// When set, the first output's K best scores go to `<item>.json` (and all of them,
    /// one line an item, to predictions.jsonl) instead of tensor files.
    public var topK: Int?
    /// Class names, line i naming index i, for `topK`.
    public var labels: [String] = []
    /// Batches buffered between decoding, inference and writing.
    public var queueDepth = 2
    /// Whether the folder walk follows symlinks to folders outside the input folder.
    public var followSymlinks = false
    /// The channels an input takes from EXR files, by input name (`--exr-inputs
    /// NAME=CH,CH,...`); other inputs take `preprocessing.channels`. When it names every
    /// input of a multi-input model, one EXR file is an item feeding them all.
    public var exrInputs: [String: [String]] = [:]
    /// Runs each frame in overlapping tiles (image-to-image models), one frame at a time.
    public var tiling: Tiling?
    /// Seconds one batch's inference may take before it is cancelled (then its items are
    /// retried one at a time, each with this limit).
    public var timeout: Double?

    public init(input: String, outputDir: String) {
        self.input = input
        self.outputDir = outputDir
    }

    /// The file naming a shard's job-level files, e.g. failures.jsonl or failures.shard-1-of-4.jsonl.
    func jobFile(_ stem: String, _ ext: String) -> String {
        shard.count == 1 ? "\(outputDir)/\(stem).\(ext)" : "\(outputDir)/\(stem).shard-\(shard.index)-of-\(shard.count).\(ext)"
    }
}

/// How a batch job ended; `exitCode` is what onnx-run exits with.
public struct BatchOutcome: Sendable {
    public var listed = 0, inShard = 0, skipped = 0, succeeded = 0, failed = 0
    /// The signal that stopped the job early, if any.
    public var interruptedBy: Int32?
    /// Why outputs could not be written (e.g. a full disk), if that stopped the job.
    public var outputError: String?

    /// 0 all done, 1 some items failed, 3 stopped by a signal, 4 an output could not be
    /// written (2, bad usage or input, is thrown as `BatchError.usage` before any work).
    public var exitCode: Int32 {
        if outputError != nil { return 4 }
        if interruptedBy != nil { return 3 }
        return failed > 0 ? 1 : 0
    }
}

/// Runs a model over many items: decoding, inference and writing run on three threads
/// joined by bounded queues, so memory stays flat however many items there are. Items
/// already done (their primary output exists) are skipped, so a rerun resumes.
public final class BatchJob: Sendable {
    let session: Session
    let spec: BatchJobSpec
    /// The model's inputs, each item giving one tensor for each.
    let inputs: [Input]
    /// Whether items are stacked along a batch dim.
    let batched: Bool
    let outputNames: [String]
    /// Runs frames in tiles when the spec asks for it.
    let tiled: TiledRunner?
    /// What the job will do that the user may not expect (one line each), for the tool to show.
    public var warnings: [String] {
        guard let ops = tiled?.wholeFrameOps, !ops.isEmpty else { return [] }
        return ["--tile: the model has whole-image ops (\(ops.joined(separator: ", "))): each tile gets its own statistics, so tiled outputs differ from whole-frame inference whatever --overlap is"]
    }

    /// A model input as items fill it.
    struct Input {
        let name: String
        let type: DataType
        /// The dims after the batch dim.
        let itemDims: [Dim]
    }

    /// Checks that the model and spec fit together; throws `.usage` naming what does not.
    public init(session: Session, spec: BatchJobSpec) throws(BatchError) {
        self.session = session
        self.spec = spec
        guard !session.inputs.isEmpty else { throw .usage("batch mode needs a model with at least one input") }
        var inputs: [Input] = [], fixedBatch = false
        for info in session.inputs {
            guard case .tensor(let type, let dims?)? = info.type, !dims.isEmpty else {
                throw .usage("input '\(info.name)' has no declared tensor shape with a batch dim; batch mode needs one")
            }
            inputs.append(Input(name: info.name, type: type, itemDims: Array(dims.dropFirst())))
            if case .value(let n) = dims[0] {
                guard spec.batchSize == 1 else {
                    throw .usage("--batch-size \(spec.batchSize): input '\(info.name)' has a fixed batch dim of \(n); use --batch-size 1")
                }
                guard n == 1 else { throw .usage("input '\(info.name)' has a fixed batch dim of \(n); batch mode needs 1 or a symbolic dim") }
                fixedBatch = true
            }
        }
        self.inputs = inputs
        batched = !fixedBatch
        guard spec.batchSize >= 1 else { throw .usage("--batch-size must be at least 1") }
        if let k = spec.topK, k < 1 { throw .usage("--top-k must be at least 1") }
        outputNames = session.outputs.map(\.name)
        for name in spec.exrInputs.keys.sorted() where !inputs.contains(where: { $0.name == name }) {
            throw .usage("--exr-inputs names '\(name)', not an input of the model (\(inputs.map(\.name).joined(separator: ", ")))")
        }
        try spec.preprocessing.check(channelCount: spec.preprocessing.channels.count, for: "--channels")
        for (name, channels) in spec.exrInputs { try spec.preprocessing.check(channelCount: channels.count, for: "input '\(name)'") }
        tiled = try spec.tiling.map { tiling throws(BatchError) in try TiledRunner(session: session, tiling: tiling, inputs: inputs) }
    }

    /// The file whose presence means `item` is done: written last of the item's outputs.
    func primaryOutput(_ item: BatchItem) -> String {
        let base = "\(spec.outputDir)/\(item.relativePath)"
        if spec.topK != nil { return base + ".json" }
        switch spec.format {
        case .npy: return base + ".npy"
        case .pb: return base + ".pb"
        case .png, .png16: return base + ".png"
        case .exr, .exrHalf: return base + ".exr"
        }
    }

    /// Runs the job. Throws `.usage` for a bad input folder or manifest or an output folder
    /// that cannot be written; per-item problems are recorded and the job goes on.
    public func run(progress: Bool = true) throws(BatchError) -> BatchOutcome {
        let listing = try ItemSource.items(from: spec.input, excluding: spec.outputDir, followSymlinks: spec.followSymlinks,
                                           inputNames: inputs.map(\.name),
                                           exrItems: inputs.allSatisfy { spec.exrInputs[$0.name] != nil })
        let items = listing.items
        let check = "\(spec.outputDir)/.onnx-run-write-check-\(getpid())"
        do {
            try AtomicFile.write([], to: check)
            unlink(check)
        } catch { throw .usage("output folder not writable: \(error)") }

        var outcome = BatchOutcome()
        outcome.listed = items.count
        if let signal = StopRequest.signal {
            outcome.interruptedBy = signal
            return outcome
        }
        let mine = items.filter { spec.shard.contains($0.relativePath) }
        let mineByPath = Set(mine.map(\.relativePath))
        AtomicFile.removeStale(under: spec.outputDir) { target in
            // An item's outputs are its path plus ".npy", or plus ".outK.npy".
            var stem = Substring(target)
            for _ in 0..<2 {
                guard let dot = stem.lastIndex(of: ".") else { return false }
                stem = stem[..<dot]
                if mineByPath.contains(String(stem)) { return true }
            }
            return false
        }
        outcome.inShard = mine.count
        let pending = mine.filter { !AtomicFile.exists(primaryOutput($0)) }
        outcome.skipped = mine.count - pending.count

        let start = monotonicSeconds()
        let loaded = BoundedQueue<Loaded>(capacity: spec.batchSize * spec.queueDepth)
        let written = BoundedQueue<Finished>(capacity: spec.queueDepth)
        let decodeTime = Accumulator(), writer = WriterState()
        writer.failures = listing.rejected.filter { spec.shard.contains($0.path) }.map { ($0.path, $0.reason) }
        let reader = WorkerThread { [self] in
            for item in pending {
                if StopRequest.signal != nil { break }
                let t0 = monotonicSeconds()
                let result = Result { () throws(ItemFailure) in try load(item) }
                decodeTime.value += monotonicSeconds() - t0
                if !loaded.push(Loaded(item: item, tensors: result)) { break }
            }
            loaded.close()
        }
        let writerThread = WorkerThread { [self] in
            let reporter = progress ? ProgressReporter(total: pending.count) : nil
            while let finished = written.pop() {
                if writer.outputError == nil {
                    let t0 = monotonicSeconds()
                    for (item, result) in finished.items where writer.outputError == nil {
                        switch result {
                        case .failure(let f): writer.failures.append((item.relativePath, f.reason))
                        case .success(let outputs):
                            do {
                                try write(item, outputs)
                                writer.succeeded += 1
                            } catch let e as BatchError {
                                writer.outputError = e.description
                                continue
                            } catch { writer.failures.append((item.relativePath, "\(error)")) }
                        }
                        writer.done += 1
                    }
                    writer.seconds += monotonicSeconds() - t0
                }
                reporter?.update(done: writer.done, failed: writer.failures.count)
            }
            reporter?.update(done: writer.done, failed: writer.failures.count, final: true)
        }

        var inferSeconds = 0.0, batches = 0
        var batch: [(BatchItem, [Tensor])] = []
        var rejected: [(BatchItem, Result<[Tensor], ItemFailure>)] = []
        func flush() {
            if !batch.isEmpty {
                let t0 = monotonicSeconds()
                rejected += infer(batch)
                inferSeconds += monotonicSeconds() - t0
                batches += 1
                batch.removeAll(keepingCapacity: true)
            }
            if !rejected.isEmpty { written.push(Finished(items: rejected)); rejected.removeAll() }
        }
        while StopRequest.signal == nil, writer.outputErrorSeen == false, let next = loaded.pop() {
            switch next.tensors {
            case .failure(let f): rejected.append((next.item, .failure(f)))
            case .success(let t):
                if let first = batch.first, first.1.map(\.shape) != t.map(\.shape) { flush() }
                batch.append((next.item, t))
                if batch.count == spec.batchSize { flush() }
            }
        }
        if StopRequest.signal == nil && !writer.outputErrorSeen { flush() } else if !rejected.isEmpty { written.push(Finished(items: rejected)) }
        loaded.close()
        written.close()
        reader.join()
        writerThread.join()

        outcome.succeeded = writer.succeeded
        outcome.failed = writer.failures.count
        outcome.outputError = writer.outputError
        outcome.interruptedBy = outcome.skipped + writer.done < outcome.inShard && outcome.outputError == nil ? StopRequest.signal : nil
        let elapsed = monotonicSeconds() - start
        do {
            try finish(outcome, failures: writer.failures, mine: mine, stages: [
                ("decode_s", decodeTime.value), ("infer_s", inferSeconds), ("write_s", writer.seconds),
            ], batches: batches, elapsed: elapsed)
        } catch {
            // On a full disk the job files fail too; the first error is the one to report.
            if outcome.outputError == nil { throw error }
        }
        return outcome
    }

    /// The input tensors of one item in the model's input order, without the batch dim;
    /// throws why they do not fit.
    func load(_ item: BatchItem) throws(ItemFailure) -> [Tensor] {
        var tensors: [Tensor] = []
        for input in inputs {
            guard let file = item.files[input.name] ?? item.files[""] else {
                throw ItemFailure("no file for input '\(input.name)'")
            }
            tensors.append(try load(file, for: input))
        }
        return tensors
    }

    /// The tensor `file` gives `input`, without the batch dim; throws why it does not fit.
    func load(_ file: BatchItem.File, for input: Input) throws(ItemFailure) -> Tensor {
        var tensor: Tensor
        do {
            switch file.kind {
            case .npy: tensor = try Npy.read(path: file.path)
            case .tensorProto: tensor = try TensorProtoCodec.read(path: file.path).tensor
            case .image, .exr:
                let bytes: [UInt8]
                do { bytes = try readBytes(file.path) } catch { throw ItemFailure(error.description) }
                let image = file.kind == .exr
                    ? try Image(decodingEXR: bytes, channels: spec.exrInputs[input.name] ?? spec.preprocessing.channels)
                    : try Image(decoding: bytes).selecting(spec.preprocessing.channels)
                tensor = try spec.preprocessing.tensor(from: image)
            }
        } catch {
            // A multi-input item's reasons say which input's file failed.
            let reason = (error as? ItemFailure)?.reason ?? "\(error)"
            throw ItemFailure(inputs.count == 1 ? reason : "input '\(input.name)': \(reason)")
        }
        if tensor.rank == input.itemDims.count + 1 && tensor.shape.first == 1 {
            tensor = Tensor(dataType: tensor.dataType, shape: Array(tensor.shape.dropFirst()), storage: tensor.storage)
        }
        guard tensor.dataType == input.type else {
            throw ItemFailure("element type \(tensor.dataType) does not match input '\(input.name)' (\(input.type))")
        }
        // A tiled frame may have any height and width.
        let fits = tensor.rank == input.itemDims.count && zip(tensor.shape, input.itemDims).enumerated().allSatisfy { axis, pair in
            if case .value(let v) = pair.1, tiled == nil || axis == 0 { return v == pair.0 }
            return true
        }
        guard fits else {
            throw ItemFailure("shape \(tensor.shape) does not fit input '\(input.name)' [N, \(input.itemDims.map(\.description).joined(separator: ", "))]")
        }
        return tensor
    }

    /// Runs one batch; each item gets its outputs (with a batch dim of 1) or why it failed
    /// when run alone.
    func infer(_ batch: [(BatchItem, [Tensor])]) -> [(BatchItem, Result<[Tensor], ItemFailure>)] {
        if let tiled {
            return batch.map { item, frame in
                do { return (item, .success(try tiled.run(frame, cancellation: spec.timeout.map { Cancellation(timeout: $0) }))) }
                catch { return (item, .failure(Self.failure(error))) }
            }
        }
        var feeds: [String: Tensor] = [:]
        for (k, input) in inputs.enumerated() {
            let shape = batch[0].1[k].shape
            let stride = batch[0].1[k].storage.byteCount
            let stacked = Tensor(zeros: input.type, shape: [batch.count] + shape)
            for (i, (_, t)) in batch.enumerated() {
                stacked.storage.pointer.advanced(by: i * stride).copyMemory(from: t[k].storage.pointer, byteCount: stride)
            }
            feeds[input.name] = stacked
        }
        do {
            let outputs = try session.runOrdered(feeds, cancellation: spec.timeout.map { Cancellation(timeout: $0) })
                .map(\.tensor)
            var perItem = [[Tensor]](repeating: [], count: batch.count)
            for (k, out) in outputs.enumerated() {
                guard out.shape.first == batch.count || (batch.count == 1 && !batched) else {
                    throw ItemFailure("output '\(outputNames[k])' has shape \(out.shape), not a batch of \(batch.count); use --batch-size 1")
                }
                let itemShape = batched || out.shape.first == 1 ? [1] + out.shape.dropFirst() : out.shape
                let bytes = out.storage.byteCount / batch.count
                for i in 0..<batch.count {
                    let t = Tensor(zeros: out.dataType, shape: itemShape)
                    t.storage.pointer.copyMemory(from: out.storage.pointer.advanced(by: i * bytes), byteCount: bytes)
                    perItem[i].append(t)
                }
            }
            return zip(batch, perItem).map { ($0.0, Result<[Tensor], ItemFailure>.success($1)) }
        } catch {
            // One bad item must not fail the others: a failed batch is retried an item at a time.
            if batch.count > 1 { return batch.flatMap { infer([$0]) } }
            return [(batch[0].0, .failure(Self.failure(error)))]
        }
    }

    /// Why an item's inference failed.
    static func failure(_ error: any Error) -> ItemFailure {
        error as? ItemFailure ?? ItemFailure("inference failed: \(error)")
    }

    /// Writes an item's outputs, the primary one last. Throws `.output` when a file cannot
    /// be written, `ItemFailure` when an output does not fit the chosen format.
    func write(_ item: BatchItem, _ outputs: [Tensor]) throws {
        let base = "\(spec.outputDir)/\(item.relativePath)"
        if let k = spec.topK {
            try AtomicFile.write(Array((topK(item, outputs[0], k) + "\n").utf8), to: primaryOutput(item))
            return
        }
        var files: [(String, [UInt8])] = []
        let exr = [.exr, .exrHalf].contains(spec.format)
        for (k, t) in outputs.enumerated() {
            let name = k == 0 ? base : "\(base).out\(k)"
            let png = [.png, .png16].contains(spec.format)
            if png, let bytes = try pngBytes(t) {
                files.append((name + ".png", bytes))
            } else if exr, let bytes = try exrBytes(t, item: item) {
                files.append((name + ".exr", bytes))
            } else if (png || exr) && k == 0 {
                throw ItemFailure("output '\(outputNames[0])' of shape \(t.shape) is not image-shaped for --\(spec.format == .exrHalf ? "exr-half" : spec.format.rawValue)")
            } else if spec.format == .pb {
                files.append((name + ".pb", TensorProtoCodec.encode(t, name: outputNames[k])))
            } else {
                files.append((name + ".npy", try Npy.encode(t)))
            }
        }
        for (path, bytes) in files.dropFirst() + files.prefix(1) { try AtomicFile.write(bytes, to: path) }
    }

    /// PNG bytes of a [1, C, H, W] / [1, H, W, C] float output (per the preprocessing
    /// layout, C = 1 or 3), values in [0, 1] mapped to 0...255 (0...65535 for png16); nil
    /// for other shapes.
    func pngBytes(_ t: Tensor) throws(ItemFailure) -> [UInt8]? {
        guard t.dataType == .float, t.rank == 4, t.shape[0] == 1 else { return nil }
        let nchw = spec.preprocessing.layout == .nchw
        let (c, h, w) = nchw ? (t.shape[1], t.shape[2], t.shape[3]) : (t.shape[3], t.shape[1], t.shape[2])
        guard c == 1 || c == 3, h > 0, w > 0 else { return nil }
        let values = t.scalars(as: Float.self)
        func samples<Sample: FixedWidthInteger & UnsignedInteger>(_: Sample.Type) -> [Sample] {
            var samples = [Sample](repeating: 0, count: c * h * w)
            for y in 0..<h {
                for x in 0..<w {
                    for ch in 0..<c {
                        let v = values[nchw ? (ch * h + y) * w + x : (y * w + x) * c + ch]
                        samples[(y * w + x) * c + ch] = Sample((min(max(v.isNaN ? 0 : v, 0), 1) * Float(Sample.max)).rounded())
                    }
                }
            }
            return samples
        }
        return spec.format == .png16 ? try encodePNG(samples(UInt16.self), width: w, height: h, channels: c)
                                     : try encodePNG(samples(UInt8.self), width: w, height: h, channels: c)
    }

    /// EXR bytes of a float [1, C, H, W] / [1, H, W, C] output (per the preprocessing layout);
    /// nil for other shapes. Channels are named by `--channels` when it names C of them, else
    /// Y (C = 1), R, G, B, A (C = 2...4) or 0, 1, ... The item's first EXR file gives the
    /// header: its attributes are kept, its windows too, scaled when the output is an integer
    /// multiple of its data window (an upscaler's); otherwise the windows are the output's size.
    func exrBytes(_ t: Tensor, item: BatchItem) throws(ItemFailure) -> [UInt8]? {
        guard t.dataType == .float, t.rank == 4, t.shape[0] == 1 else { return nil }
        let nchw = spec.preprocessing.layout == .nchw
        let (c, h, w) = nchw ? (t.shape[1], t.shape[2], t.shape[3]) : (t.shape[3], t.shape[1], t.shape[2])
        guard c >= 1, h > 0, w > 0 else { return nil }
        var planes = t.scalars(as: Float.self)
        if !nchw {
            let hwc = planes
            for p in 0..<(h * w) { for ch in 0..<c { planes[ch * h * w + p] = hwc[p * c + ch] } }
        }
        let names = spec.preprocessing.channels.count == c ? spec.preprocessing.channels
            : c == 1 ? ["Y"] : c <= 4 ? Array(["R", "G", "B", "A"].prefix(c)) : (0..<c).map { "\($0)" }
        let source = inputs.lazy.compactMap { item.files[$0.name] ?? item.files[""] }.first { $0.kind == .exr }
        var header: [UInt8]?, windows: ExrWindows?
        if let source, let bytes = try? readBytes(source.path), let frame = try? exrHeader(bytes) {
            header = bytes
            let (dw, dh) = (frame.windows.data[2] - frame.windows.data[0] + 1, frame.windows.data[3] - frame.windows.data[1] + 1)
            if w % dw == 0, h % dh == 0 { windows = frame.windows.scaled(x: w / dw, y: h / dh) }
        }
        return try encodeEXR(planes, width: w, height: h, channels: names, half: spec.format == .exrHalf, windows: windows, header: header)
    }

    /// One JSON line: the item and the `k` best entries of `scores` (flattened).
    func topK(_ item: BatchItem, _ scores: Tensor, _ k: Int) throws -> String {
        let values: [Double]
        switch scores.dataType {
        case .float: values = scores.scalars(as: Float.self).map(Double.init)
        case .double: values = scores.scalars(as: Double.self)
        default: throw ItemFailure("output '\(outputNames[0])' is \(scores.dataType); --top-k needs float scores")
        }
        let best = values.indices.sorted { values[$0] > values[$1] || (values[$0] == values[$1] && $0 < $1) }.prefix(k)
        let entries = best.map { i in
            "{\"index\":\(i),\(i < spec.labels.count ? "\"label\":\(jsonString(spec.labels[i]))," : "")\"score\":\(values[i])}"
        }
        return "{\"item\":\(jsonString(item.relativePath)),\"top\":[\(entries.joined(separator: ","))]}"
    }

    /// Writes the failures file, the predictions file (with --top-k) and the summary.
    func finish(_ outcome: BatchOutcome, failures: [(String, String)], mine: [BatchItem],
                stages: [(String, Double)], batches: Int, elapsed: Double) throws(BatchError) {
        let failureLines = failures.map { "{\"item\":\(jsonString($0.0)),\"reason\":\(jsonString($0.1))}\n" }.joined()
        try AtomicFile.write(Array(failureLines.utf8), to: spec.jobFile("failures", "jsonl"))
        if spec.topK != nil && outcome.outputError == nil {
            var lines = ""
            for item in mine {
                if let bytes = try? readBytes(primaryOutput(item)) { lines += String(decoding: bytes, as: UTF8.self) }
            }
            try AtomicFile.write(Array(lines.utf8), to: spec.jobFile("predictions", "jsonl"))
        }
        let processed = outcome.succeeded + outcome.failed
        let fields = [
            ("listed", "\(outcome.listed)"), ("in_shard", "\(outcome.inShard)"), ("skipped_done", "\(outcome.skipped)"),
            ("succeeded", "\(outcome.succeeded)"), ("failed", "\(outcome.failed)"),
            ("shard", jsonString(spec.shard.description)), ("batch_size", "\(spec.batchSize)"), ("batches", "\(batches)"),
            ("elapsed_s", format(elapsed, 3)), ("items_per_s", format(elapsed > 0 ? Double(processed) / elapsed : 0, 3)),
            ("stages_s", "{" + stages.map { "\"\($0.0)\":\(format($0.1, 3))" }.joined(separator: ",") + "}"),
            ("interrupted_by_signal", outcome.interruptedBy.map { "\($0)" } ?? "null"),
            ("output_error", outcome.outputError.map(jsonString) ?? "null"), ("exit_code", "\(outcome.exitCode)"),
        ]
        let summary = "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}\n"
        try AtomicFile.write(Array(summary.utf8), to: spec.jobFile("summary", "json"))
    }
}

/// An item read by the decoding thread: its inputs' tensors in the model's order.
struct Loaded: Sendable {
    let item: BatchItem
    let tensors: Result<[Tensor], ItemFailure>
}

/// A batch's results on their way to the writing thread.
struct Finished: Sendable {
    let items: [(BatchItem, Result<[Tensor], ItemFailure>)]
}

/// A number one thread adds to and others read only after joining it.
final class Accumulator: @unchecked Sendable { var value = 0.0 }

/// The writing thread's tallies; read by others only after joining it, except
/// `outputErrorSeen`, an advisory flag the inference loop polls to stop early.
final class WriterState: @unchecked Sendable {
    var done = 0, succeeded = 0, seconds = 0.0
    var failures: [(String, String)] = []
    var outputError: String? { didSet { flag.store(true, ordering: .relaxed) } }
    private let flag = Atomic<Bool>(false)
    var outputErrorSeen: Bool { flag.load(ordering: .relaxed) }
}

extension BatchJobSpec {
    /// The lines of a labels file (trailing blank lines dropped); throws `.usage` naming it.
    public static func readLabels(_ path: String) throws(BatchError) -> [String] {
        let text: String
        do { text = try readText(path) } catch { throw .usage("--labels \(error)") }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { String($0) }
        while lines.last?.isEmpty == true { lines.removeLast() }
        return lines
    }
}
