import Glibc

/// Summary statistics of timed runs, in milliseconds.
struct Timings: Sendable {
    let samples: [Double]
    var sorted: [Double] { samples.sorted() }
    func percentile(_ p: Double) -> Double {
        let s = sorted
        guard !s.isEmpty else { return .nan }
        let rank = p / 100 * Double(s.count - 1)
        let lo = Int(rank), hi = min(lo + 1, s.count - 1)
        return s[lo] + (s[hi] - s[lo]) * (rank - Double(lo))
    }
    var median: Double { percentile(50) }
    var p10: Double { percentile(10) }
    var p90: Double { percentile(90) }
    var minimum: Double { samples.min() ?? .nan }
}

/// Milliseconds taken by `body`.
func milliseconds<T>(_ body: () throws -> T) rethrows -> (T, Double) {
    let start = ContinuousClock.now
    let result = try body()
    let d = (ContinuousClock.now - start).components
    return (result, Double(d.seconds) * 1e3 + Double(d.attoseconds) / 1e15)
}

/// The CPU time all of this process's threads spent in `body`, and the wall-clock
/// milliseconds it took.
func cpuAndWallMilliseconds<T>(_ body: () throws -> T) rethrows -> (T, cpu: Double, wall: Double) {
    func cpuNow() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
        return Double(t.tv_sec) * 1e3 + Double(t.tv_nsec) / 1e6
    }
    let start = cpuNow()
    let (result, wall) = try milliseconds(body)
    return (result, cpuNow() - start, wall)
}

/// The process's peak resident memory, resettable (Linux: /proc/self/status VmHWM, reset by
/// writing 5 to /proc/self/clear_refs), so each backend's phase gets its own peak.
enum PeakMemory {
    static func reset() {
        guard let f = fopen("/proc/self/clear_refs", "w") else { return }
        fputs("5", f)
        fclose(f)
    }

    /// Peak resident set size in bytes since the last reset (0 when unknown).
    static func bytes() -> Int { status("VmHWM:") }

    /// Resident set size in bytes now (0 when unknown).
    static func resident() -> Int { status("VmRSS:") }

    /// A /proc/self/status field given in kB, in bytes.
    private static func status(_ field: String) -> Int {
        guard let f = fopen("/proc/self/status", "r") else { return 0 }
        defer { fclose(f) }
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, 256, f) != nil {
            let s = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if s.hasPrefix(field) {
                return (Int(s.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
            }
        }
        return 0
    }
}

/// Whether standard error is a terminal (progress lines are drawn only then).
let stderrIsTerminal = isatty(2) != 0

/// Overwrites the current terminal line on stderr; silent when stderr is not a terminal.
func progress(_ text: String) {
    guard stderrIsTerminal else { return }
    let line = "\r\u{1B}[2K" + text
    _ = line.withCString { write(2, $0, strlen($0)) }
}

func writeText(_ text: String, to path: String) throws {
    guard let f = fopen(path, "w") else { throw BenchError("cannot write \(path)") }
    defer { fclose(f) }
    fputs(text, f)
}

/// A small text file's contents; nil when it cannot be read.
func readText(_ path: String) -> String? {
    guard let f = fopen(path, "r") else { return nil }
    defer { fclose(f) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while case let n = fread(&chunk, 1, chunk.count, f), n > 0 { bytes += chunk[..<n] }
    return String(decoding: bytes, as: UTF8.self)
}

/// A one-line error for the command line (exit 2).
struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A decimal with `digits` fraction digits (no Foundation formatting here).
func fixed(_ value: Double, _ digits: Int = 2) -> String {
    guard value.isFinite else { return "-" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let rounded = (abs(value) * scale).rounded()
    let whole = Int(rounded / scale), frac = Int(rounded.truncatingRemainder(dividingBy: scale))
    var f = String(frac)
    while f.count < digits { f = "0" + f }
    return (value < 0 ? "-" : "") + String(whole) + (digits > 0 ? "." + f : "")
}
