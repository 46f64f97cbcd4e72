import Glibc
import Vonnx

/// Renders results as a text table, a JSON report and a chrome://tracing file.
enum Report {
    static func table(model: String, results: [BenchResult]) -> String {
        let header = ["backend", "device", "batch", "create ms", "warm create", "first ms", "median ms", "p10", "p90",
                      "min", "cpu ms", "runs/s", "items/s", "peak MB", "added MB", "dev MB", "fallback", "rel L2", "ratio"]
        var rows: [[String]] = []
        for r in results where r.failure == nil {
            let base = cpuBaseline(for: r, in: results)
            let ratio = base.map { r.backend == "cpu" ? "1.00" : fixed(r.timings.median / $0.timings.median) } ?? "-"
            rows.append([r.backend, r.device, "\(r.batch)", fixed(r.createMs, 1), r.createWarmMs.map { fixed($0, 1) } ?? "-",
                         fixed(r.firstRunMs), fixed(r.timings.median), fixed(r.timings.p10), fixed(r.timings.p90),
                         fixed(r.timings.minimum), r.cpuTimings.map { fixed($0.median) } ?? "-", fixed(r.runsPerSecond), fixed(r.itemsPerSecond, 1),
                         r.peakHostBytes.map { fixed(Double($0) / 1_048_576, 0) } ?? "-",
                         r.addedHostBytes.map { fixed(Double($0) / 1_048_576, 0) } ?? "-",
                         r.deviceMemoryBytes.map { fixed(Double($0) / 1_048_576, 0) } ?? "-",
                         r.fallbackNodes.map(String.init) ?? "-",
                         r.relativeError.map { scientific($0) } ?? "-", ratio])
        }
        return (["model: \(model)  (ratio: median time / CPU median at the same batch)"] + aligned(header, rows) + failures(results))
            .joined(separator: "\n")
    }

    /// The whole suite: one row per model, batch and backend or peer, with each peer's time
    /// against Vonnx's from alternating runs, and a geometric mean of that per peer.
    static func suiteSummary(_ results: [BenchResult]) -> String {
        let header = ["model", "batch", "backend", "device", "median ms", "p10", "p90", "rel L2", "Vonnx/peer", "p10", "p90"]
        let rows = results.map { r -> [String] in
            guard r.failure == nil else { return [r.model, "\(r.batch)", r.backend, r.device, "unavailable: \(r.failure!)"] }
            let q = r.vonnxRatio
            return [r.model, "\(r.batch)", r.backend, r.device, fixed(r.timings.median), fixed(r.timings.p10), fixed(r.timings.p90),
                    r.relativeError.map { scientific($0) } ?? "-", q.map { fixed($0.median) } ?? "", q.map { fixed($0.p10) } ?? "",
                    q.map { fixed($0.p90) } ?? ""]
        }
        var out = ["", "suite (Vonnx/peer: Vonnx's time over the peer's in alternating runs, median and p10/p90 of the pairs; above 1 the peer is faster)"]
        out += aligned(header, rows)
        let means = PeerEngine.allCases.compactMap { peer -> String? in
            let rows = results.filter { $0.backend == peer.rawValue }
            let ratios = rows.compactMap { $0.vonnxRatio?.median }.filter { $0 > 0 && $0.isFinite }
            guard !ratios.isEmpty else { return nil }
            let mean = exp(ratios.reduce(0) { $0 + log($1) } / Double(ratios.count))
            let missing = rows.filter { $0.failure != nil }.count
            return "  \(pad(peer.rawValue, 12)) \(fixed(mean)) over \(ratios.count) rows" + (missing > 0 ? " (\(missing) unavailable)" : "")
        }
        if !means.isEmpty { out += ["geometric mean of Vonnx/peer (the pairs' medians):"] + means }
        return out.joined(separator: "\n")
    }

    /// The CPU row at the same model and batch as `r`, which the ratio column divides by.
    private static func cpuBaseline(for r: BenchResult, in results: [BenchResult]) -> BenchResult? {
        results.first { $0.model == r.model && $0.batch == r.batch && $0.backend == "cpu" && $0.failure == nil }
    }

    /// One line per row that could not run, saying why.
    private static func failures(_ results: [BenchResult]) -> [String] {
        results.compactMap { r in r.failure.map { "\(r.backend) (\(r.device)) batch \(r.batch): unavailable: \($0)" } }
    }

    /// Rows under a header, each column right-aligned to its widest cell; a shorter row's last
    /// cell (a note) runs on unaligned.
    private static func aligned(_ header: [String], _ rows: [[String]]) -> [String] {
        let full = [header] + rows.filter { $0.count == header.count }
        let widths = header.indices.map { i in full.map { $0[i].count }.max()! }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in
                i == cells.count - 1 && cells.count < widths.count ? c : String(repeating: " ", count: max(0, widths[i] - c.count)) + c
            }.joined(separator: "  ")
        }
        return [line(header)] + rows.map(line)
    }

    /// Per-op-type totals and the ten slowest nodes of one profiled run, with GFLOP/s for
    /// Conv, FusedConv, Gemm and MatMul.
    static func profileSummary(label: String, profile: Profile) -> String {
        let events = profile.events
        let total = events.reduce(0) { $0 + $1.duration }
        var byOp: [String: (ns: Int64, count: Int, flops: Double)] = [:]
        for e in events {
            var entry = byOp[e.opType] ?? (0, 0, 0)
            entry.ns += e.duration; entry.count += 1; entry.flops += flops(e)
            byOp[e.opType] = entry
        }
        var out = ["", "profile (\(label)): \(fixed(Double(total) / 1e6)) ms in \(events.count) nodes",
                   "  op type               nodes      ms      %   GFLOP/s"]
        for (op, v) in byOp.sorted(by: { $0.value.ns > $1.value.ns }) {
            out.append("  " + pad(op, 20) + pad("\(v.count)", 7, right: true) + pad(fixed(Double(v.ns) / 1e6), 8, right: true)
                       + pad(fixed(100 * Double(v.ns) / Double(max(total, 1)), 1), 7, right: true)
                       + pad(v.flops > 0 ? fixed(v.flops / Double(v.ns), 1) : "", 10, right: true))
        }
        out.append("  slowest nodes:")
        for e in events.sorted(by: { $0.duration > $1.duration }).prefix(10) {
            let f = flops(e)
            out.append("  " + pad(e.node, 28) + pad(e.opType, 12) + pad(fixed(Double(e.duration) / 1e6, 3), 9, right: true) + " ms"
                       + (f > 0 ? "  \(fixed(f / Double(e.duration), 1)) GFLOP/s" : "") + "  \(e.inputShapes.first ?? [])")
        }
        return out.joined(separator: "\n")
    }

    /// Floating-point operations of a Conv (FusedConv too), Gemm or MatMul node (0 for others).
    static func flops(_ e: Profile.Event) -> Double {
        guard let out = e.outputShapes.first, !out.isEmpty else { return 0 }
        let outCount = Double(out.reduce(1, *))
        switch e.opType {
        case "Conv", "FusedConv":
            guard e.inputShapes.count > 1, e.inputShapes[1].count > 2 else { return 0 }
            let w = e.inputShapes[1]
            return 2 * outCount * Double(w.dropFirst().reduce(1, *))
        case "Gemm":
            guard let a = e.inputShapes.first, out.count == 2, out[0] > 0 else { return 0 }
            return 2 * outCount * Double(a.reduce(1, *) / out[0])
        case "MatMul":
            guard let k = e.inputShapes.first?.last else { return 0 }
            return 2 * outCount * Double(k)
        default: return 0
        }
    }

    static func json(model: String, results: [BenchResult]) -> String {
        let rows = results.map { r in
            var fields: [(String, String)] = [
                ("model", quoted(r.model)), ("backend", quoted(r.backend)), ("device", quoted(r.device)), ("batch", "\(r.batch)"),
                ("threads", "\(r.threads)"),
            ]
            if let failure = r.failure {
                fields.append(("error", quoted(failure)))
            } else {
                fields += [
                    ("median_ms", number(r.timings.median)), ("p10_ms", number(r.timings.p10)),
                    ("p90_ms", number(r.timings.p90)), ("min_ms", number(r.timings.minimum)),
                    ("runs_per_s", number(r.runsPerSecond)), ("items_per_s", number(r.itemsPerSecond)),
                    ("create_ms", number(r.createMs)), ("first_run_ms", number(r.firstRunMs)),
                    ("runs", "\(r.timings.samples.count)"),
                ]
            }
            if let c = r.cpuTimings, r.failure == nil { fields.append(("cpu_median_ms", number(c.median))) }
            if let w = r.createWarmMs { fields.append(("create_warm_ms", number(w))) }
            if let p = r.peakHostBytes { fields.append(("peak_host_bytes", "\(p)")) }
            if let a = r.addedHostBytes { fields.append(("added_host_bytes", "\(a)")) }
            if let f = r.fallbackNodes { fields.append(("fallback_nodes", "\(f)")) }
            if let d = r.driver { fields.append(("driver", quoted(d))) }
            if let v = r.vulkanVersion { fields.append(("vulkan_version", quoted(v))) }
            if let m = r.deviceMemoryBytes { fields.append(("device_memory_bytes", "\(m)")) }
            if r.failure == nil, let base = cpuBaseline(for: r, in: results) {
                fields.append(("ratio_to_cpu", number(r.timings.median / base.timings.median)))
            }
            if let e = r.relativeError { fields.append(("relative_l2_error", number(e))) }
            if let q = r.vonnxRatio {
                fields += [("vonnx_ratio_median", number(q.median)), ("vonnx_ratio_p10", number(q.p10)), ("vonnx_ratio_p90", number(q.p90))]
            }
            return "    {" + fields.map { "\(quoted($0.0)): \($0.1)" }.joined(separator: ", ") + "}"
        }
        return "{\n  \"schema\": \"vonnx-bench/1\",\n  \"model\": \(quoted(model)),\n  \"results\": [\n"
            + rows.joined(separator: ",\n") + "\n  ]\n}\n"
    }

    /// chrome://tracing "X" events, one per node, microseconds.
    static func chromeTrace(_ profile: Profile) -> String {
        let events = profile.events.map { e in
            "{\"name\": \(quoted(e.node)), \"cat\": \(quoted(e.opType)), \"ph\": \"X\", \"ts\": \(number(Double(e.start) / 1000)), "
                + "\"dur\": \(number(Double(e.duration) / 1000)), \"pid\": 1, \"tid\": \(quoted(e.backend)), "
                + "\"args\": {\"inputs\": \(quoted("\(e.inputShapes)")), \"outputs\": \(quoted("\(e.outputShapes)"))}}"
        }
        return "{\"traceEvents\": [\n" + events.joined(separator: ",\n") + "\n]}\n"
    }

    static func quoted(_ s: String) -> String {
        var out = "\""
        for c in s.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case _ where c.value < 0x20: out += "\\u00" + (c.value < 16 ? "0" : "") + String(c.value, radix: 16)
            default: out.unicodeScalars.append(c)
            }
        }
        return out + "\""
    }

    static func number(_ v: Double) -> String { v.isFinite ? "\(v)" : "null" }

    static func scientific(_ v: Double) -> String {
        guard v.isFinite, v > 0 else { return v == 0 ? "0" : v.isInfinite ? "inf" : "-" }
        var e = 0, m = v
        while m < 1 { m *= 10; e -= 1 }
        while m >= 10 { m /= 10; e += 1 }
        if m >= 9.95 { m /= 10; e += 1 }  // rounds up to the next decade: 1.0e0, not 10.0e-1
        return fixed(m, 1) + "e" + String(e)
    }

    static func pad(_ s: String, _ width: Int, right: Bool = false) -> String {
        let fill = String(repeating: " ", count: max(0, width - s.count))
        return right ? fill + s : s + fill
    }
}
