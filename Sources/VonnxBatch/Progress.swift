import Glibc

/// Reports progress to standard error: a bar with rate and ETA when it is a terminal,
/// otherwise a JSON-lines record (`{"event":"progress",...}`) at most every `interval`
/// seconds, for farm log collectors.
final class ProgressReporter {
    private let total: Int
    private let isTerminal: Bool
    private let interval: Double
    private let start = monotonicSeconds()
    private var last = -Double.infinity

    init(total: Int, interval: Double = 5) {
        self.total = total
        self.isTerminal = isatty(2) != 0
        self.interval = isTerminal ? 0.2 : interval
    }

    /// Reports `done` of `total` items (`failed` of them failed); `final` forces a report.
    func update(done: Int, failed: Int, final: Bool = false) {
        let now = monotonicSeconds()
        guard final || now - last >= interval else { return }
        last = now
        let elapsed = now - start
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let eta = rate > 0 ? Double(total - done) / rate : 0
        if isTerminal {
            let width = 30, filled = total > 0 ? width * done / total : width
            let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
            let line = "\r[\(bar)] \(done)/\(total) \(format(rate, 1)) items/s ETA \(duration(eta))" + (failed > 0 ? " failed \(failed)" : "")
            writeStandardError(line + (final ? "\n" : ""))
        } else {
            writeStandardError("{\"event\":\"progress\",\"done\":\(done),\"total\":\(total),\"failed\":\(failed),\"items_per_s\":\(format(rate, 3)),\"eta_s\":\(format(eta, 1)),\"elapsed_s\":\(format(elapsed, 1))}\n")
        }
    }

    private func duration(_ s: Double) -> String {
        let t = Int(s.rounded())
        return t >= 3600 ? "\(t / 3600)h\(t % 3600 / 60)m" : t >= 60 ? "\(t / 60)m\(t % 60)s" : "\(t)s"
    }
}

/// Seconds on the monotonic clock.
func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// `value` with `digits` decimals (finite; JSON-safe).
func format(_ value: Double, _ digits: Int) -> String {
    guard value.isFinite else { return "0" }
    var p = 1.0
    for _ in 0..<digits { p *= 10 }
    let r = (value * p).rounded() / p
    return digits == 0 ? String(Int(r)) : String(r)
}

/// `text` as a JSON string literal.
func jsonString(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        case "\r": out += "\\r"
        default:
            if scalar.value < 0x20 {
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else { out.unicodeScalars.append(scalar) }
        }
    }
    return out + "\""
}

/// Writes `text` to standard error (file descriptor 2, unbuffered).
public func writeStandardError(_ text: String) {
    var text = text
    text.withUTF8 { bytes in
        var done = 0
        while done < bytes.count {
            let n = write(2, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            done += n
        }
    }
}
