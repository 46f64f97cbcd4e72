import ArgumentParser
import Glibc
import Vonnx
import VonnxBatch

/// The flags of batch mode (`--batch-input`); see README "Batch jobs on a farm".
struct BatchOptions: ParsableArguments {
    @Option(help: "Batch mode: a folder of .npy/.pb/.png/.jpg/.exr items (for a multi-input model, folders of one file per input), or a manifest listing one a line (a JSON object of input files for a multi-input model).")
    var batchInput: String?
    @Option(help: "Items run together when the model's batch dim is symbolic.") var batchSize = 1
    @Option(help: "INDEX/COUNT: process only this shard (default: from Slurm array or Kubernetes Indexed Job variables).")
    var shard: String?
    @Option(help: "A job file of 'key = value' preprocessing settings (resize, crop, layout, channels, scale, mean, std).")
    var job: String?
    @Option(help: "Image preprocessing: resize the shorter side to N, or to WIDTHxHEIGHT.") var resize: String?
    @Option(help: "Image preprocessing: center-crop to N or WIDTHxHEIGHT.") var crop: String?
    @Option(help: "Image preprocessing: nchw or nhwc.") var layout: String?
    @Option(help: "Image channels by name: rgb (R,G,B, the default), bgr (B,G,R), or a comma list of EXR channel names, e.g. diffuse.R,diffuse.G,diffuse.B.")
    var channels: String?
    @Option(help: "INPUT=CH,CH,...: the EXR channels feeding one input (repeatable); naming every input makes each .exr file an item feeding them all.")
    var exrInputs: [String] = []
    @Option(help: "Image preprocessing: multiply samples (in [0, 1]) by this.") var scale: String?
    @Option(help: "Image preprocessing: means subtracted after scaling, one or one a channel.") var mean: String?
    @Option(help: "Image preprocessing: standard deviations to divide by, one or one a channel.") var std: String?
    @Option(help: "Write the first output's K best classes as JSON lines instead of tensors.") var topK: Int?
    @Option(help: "Class names for --top-k, one a line.") var labels: String?
    @Option(help: "Run each frame in tiles of WIDTHxHEIGHT (a fully convolutional image-to-image model), blended over --overlap.")
    var tile: String?
    @Option(help: "Pixels neighbouring tiles share (default 0); the result equals whole-frame inference when the model's receptive field reaches at most a quarter of it.")
    var overlap: Int?
    @Flag(help: "Write image-shaped outputs as 8-bit PNG (values in [0, 1]).") var png = false
    @Flag(help: "Write image-shaped outputs as 16-bit PNG (values in [0, 1]).") var png16 = false
    @Flag(help: "Write image-shaped outputs as OpenEXR, float channels.") var exr = false
    @Flag(help: "Write image-shaped outputs as OpenEXR, half channels.") var exrHalf = false
    @Flag(help: "Follow symlinks to folders outside the input folder.") var followSymlinks = false

    /// Batch-mode flags without --batch-input would be silently ignored; refuse them.
    func validate() throws {
        guard batchInput == nil else { return }
        let texts = [shard, job, resize, crop, layout, channels, scale, mean, std, labels, tile]
        if texts.contains(where: { $0 != nil }) || topK != nil || overlap != nil || png || png16 || exr || exrHalf
            || !exrInputs.isEmpty || followSymlinks || batchSize != 1 {
            throw ValidationError("batch-mode options (--shard, --job, --resize, --top-k, ...) need --batch-input")
        }
    }
}

extension OnnxRun {
    /// Runs batch mode and exits with its code: 0 ok, 1 some items failed, 2 bad usage or
    /// input, 3 stopped by SIGTERM/SIGINT, 4 an output could not be written.
    func runBatch(_ options: BatchOptions, input: String, model: String, options sessionOptions: SessionOptions) -> Never {
        do {
            guard let outputDir else { throw BatchError.usage("--batch-input needs --output-dir") }
            var spec = BatchJobSpec(input: input, outputDir: outputDir)
            spec.batchSize = options.batchSize
            let imageFormats: [(Bool, BatchJobSpec.OutputFormat)] = [(options.png, .png), (options.png16, .png16), (options.exr, .exr),
                                                                      (options.exrHalf, .exrHalf)]
            let chosen = imageFormats.filter(\.0).map(\.1)
            guard chosen.count <= 1 else { throw BatchError.usage("--png, --png16, --exr and --exr-half exclude each other") }
            spec.format = chosen.first ?? (format == .pb ? .pb : .npy)
            for entry in options.exrInputs {
                let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2, !parts[0].isEmpty else {
                    throw BatchError.usage("--exr-inputs '\(entry)' must be INPUT=CHANNEL,CHANNEL,..., e.g. albedo=albedo.R,albedo.G,albedo.B")
                }
                spec.exrInputs[parts[0]] = try Preprocessing.channelNames(parts[1], key: "--exr-inputs \(parts[0])")
            }
            spec.topK = options.topK
            spec.followSymlinks = options.followSymlinks
            spec.timeout = timeout
            if let labels = options.labels {
                guard options.topK != nil else { throw BatchError.usage("--labels needs --top-k") }
                spec.labels = try BatchJobSpec.readLabels(labels)
            }
            if let tile = options.tile {
                spec.tiling = try Tiling(tile: tile, overlap: options.overlap ?? 0)
            } else if options.overlap != nil {
                throw BatchError.usage("--overlap needs --tile")
            }
            if let job = options.job { try spec.preprocessing.apply(jobFile: job) }
            for (key, value) in [("resize", options.resize), ("crop", options.crop), ("layout", options.layout),
                                 ("channels", options.channels), ("scale", options.scale), ("mean", options.mean),
                                 ("std", options.std)] {
                if let value { try spec.preprocessing.set(key, value) }
            }
            if let text = options.shard {
                spec.shard = try Shard(parsing: text)
            } else if let shard = try Shard.fromEnvironment(Shard.schedulerEnvironment()) {
                spec.shard = shard
            }
            // Before the model loads: a stop asked for meanwhile ends the job before its first batch.
            StopRequest.install()
            let session: Session
            do { session = try Session(path: model, options: sessionOptions) } catch {
                throw BatchError.usage("\(error)")
            }
            let job = try BatchJob(session: session, spec: spec)
            for warning in job.warnings { writeStandardError("onnx-run: warning: \(warning)\n") }
            let outcome = try job.run()
            if let error = outcome.outputError { writeStandardError("error: \(error)\n") }
            if let signal = outcome.interruptedBy { writeStandardError("onnx-run: stopped by signal \(signal); rerun to resume\n") }
            if outcome.failed > 0 { writeStandardError("onnx-run: \(outcome.failed) item(s) failed; see \(outputDir)/failures*.jsonl\n") }
            Glibc.exit(outcome.exitCode)
        } catch let error as BatchError {
            writeStandardError("error: \(error)\n")
            if case .output = error { Glibc.exit(4) }
            Glibc.exit(2)
        } catch {
            writeStandardError("error: \(error)\n")
            Glibc.exit(2)
        }
    }
}
