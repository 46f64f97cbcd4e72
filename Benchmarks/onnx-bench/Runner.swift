import Vonnx
import VonnxFormat

/// One row of the report: a model on a backend (or a peer engine) at one batch size.
struct BenchResult {
    var model = ""
    var backend: String
    var device: String
    var batch: Int
    var threads: Int
    var timings: Timings
    /// Vonnx rows: the process's CPU time (all threads) in each timed run, milliseconds.
    var cpuTimings: Timings?
    var createMs: Double
    var createWarmMs: Double?
    var firstRunMs: Double
    var peakHostBytes: Int?
    /// Peak resident memory minus the resident memory just before the session was created:
    /// what running this model costs a process, without the harness's own copy of the model.
    var addedHostBytes: Int?
    var fallbackNodes: Int?
    /// Vulkan rows: the driver, the device's Vulkan version and the device memory the session held.
    var driver: String?
    var vulkanVersion: String?
    var deviceMemoryBytes: UInt64?
    /// Relative L2 error of the outputs against the first backend's.
    var relativeError: Double?
    /// Peer rows: Vonnx's run time over the peer's, per pair of alternating runs.
    var vonnxRatio: Timings?
    /// Why this backend or peer could not run the model (no timings then).
    var failure: String?
    var outputs: [Tensor]

    /// A row saying why `backend` could not run the model.
    static func failed(_ backend: String, device: String, batch: Int, threads: Int, reason: String) -> BenchResult {
        BenchResult(backend: backend, device: device, batch: batch, threads: threads, timings: Timings(samples: []), createMs: .nan,
                    firstRunMs: .nan, failure: reason, outputs: [])
    }

    var itemsPerSecond: Double { Double(batch) * 1000 / timings.median }
    var runsPerSecond: Double { 1000 / timings.median }
}

/// Times one backend: session creation (cold, then again), first run, warm-up, timed runs.
struct Runner {
    let modelPath: String
    let backend: Backend
    let threads: Int
    let runs: Int
    let warmup: Int
    /// Timed runs stop early (after at least 3) once they have taken this many seconds.
    let timeLimit: Double
    let label: String
    /// The Vulkan device selector (index or name substring), nil for the default.
    var vulkanDevice: String? = nil
    var precision = Precision.fp32
    var limits = Limits()

    private var options: SessionOptions {
        var o = SessionOptions.fromEnvironment()
        (o.threads, o.backend, o.limits, o.precision) = (threads, backend, limits, precision)
        if let vulkanDevice { o.vulkanDevice = vulkanDevice }
        return o
    }

    /// A session over the model loaded from `modelPath` and the milliseconds its creation took,
    /// loading aside. The loaded model is handed over to the session, as `Session(path:)` does:
    /// kept here, it would hold the weights the session replaces (by packed forms) until the
    /// session exists, doubling the peak.
    private func session() throws -> (Session, Double) {
        var model = Optional(try ModelReader.load(path: modelPath))
        return try milliseconds { try Session(model: model.take()!, options: options) }
    }

    /// This backend's result, and each peer's, timed in alternation with it.
    func measure(feeds: [String: Tensor], batch: Int, peers: [PeerBridge]) throws -> (BenchResult, [BenchResult]) {
        progress("\(label): creating session")
        // the first creation (cold caches) is timed and dropped; the peak memory counts the
        // second session, the one that runs, from loading the model on, as a process running
        // the model would hold it
        let createMs = try session().1
        // the dropped sessions' blocks would otherwise be reused by the next (hiding its cost)
        // or stay resident in the baseline
        StorageCache.releaseAll()
        StorageCache.returnFreedHeap()
        PeakMemory.reset()
        let baseline = PeakMemory.resident()
        let (session, createWarmMs) = try session()
        let (first, firstRunMs) = try milliseconds { try session.runOrdered(feeds) }
        for i in 0..<warmup {
            progress("\(label): warm-up \(i + 1) of \(warmup)")
            _ = try session.runOrdered(feeds)
            for peer in peers { _ = try peer.run() }
        }
        var samples: [Double] = [], cpuSamples: [Double] = [], peerSamples = [[Double]](repeating: [], count: peers.count)
        var spent = 0.0
        for i in 0..<runs where samples.count < 3 || spent < timeLimit * 1000 {
            progress("\(label): run \(i + 1) of \(runs)")
            let (_, cpu, wall) = try cpuAndWallMilliseconds { try session.runOrdered(feeds) }
            samples.append(wall)
            cpuSamples.append(cpu)
            spent += samples.last!
            for (j, peer) in peers.enumerated() { peerSamples[j].append(try peer.run()) }
        }
        let vulkan = session.vulkan?.info
        let cpuNodes = session.fallbackNodes.count + session.partitionsRunOnCPU.map(\.nodes).reduce(0, +)
        let peak = PeakMemory.bytes()
        var result = BenchResult(backend: backend.rawValue, device: vulkan?.name ?? "cpu (\(threads) thread\(threads == 1 ? "" : "s"))", batch: batch,
                                 threads: threads, timings: Timings(samples: samples), cpuTimings: Timings(samples: cpuSamples), createMs: createMs,
                                 createWarmMs: createWarmMs, firstRunMs: firstRunMs, peakHostBytes: peak,
                                 fallbackNodes: backend == .vulkan ? cpuNodes : nil,
                                 driver: vulkan?.driver, vulkanVersion: vulkan?.apiVersion,
                                 deviceMemoryBytes: session.vulkan?.allocatedBytes, outputs: first.map(\.tensor))
        if peak > 0, baseline > 0 { result.addedHostBytes = peak - baseline }
        let peerResults = try zip(peers, peerSamples).map { peer, times in
            var r = BenchResult(backend: peer.engine.rawValue, device: "\(backend == .vulkan ? result.device : "cpu") (\(peer.version))",
                                batch: batch, threads: threads, timings: Timings(samples: times), createMs: peer.createMs,
                                firstRunMs: peer.firstRunMs, vonnxRatio: Timings(samples: zip(samples, times).map { $0 / $1 }),
                                outputs: try peer.outputs())
            if let (peak, baseline) = try peer.memory() {
                r.peakHostBytes = peak
                r.addedHostBytes = baseline > 0 ? peak - baseline : nil
            }
            return r
        }
        return (result, peerResults)
    }

    /// The profiled run with the median total of seven (after a warm-up run): one run is too
    /// noisy on a shared machine to rank nodes by.
    func profile(feeds: [String: Tensor]) throws -> Profile {
        let session = try session().0
        _ = try session.runOrdered(feeds)
        var runs: [(total: Int64, profile: Profile)] = []
        for _ in 0..<7 {
            let profile = Profile()
            _ = try session.runOrdered(feeds, profile: profile)
            runs.append((profile.events.reduce(0) { $0 + $1.duration }, profile))
        }
        return runs.sorted { $0.total < $1.total }[runs.count / 2].profile
    }
}
