import Glibc
import Synchronization

/// SIGTERM / SIGINT as a request to stop: the handler only sets a flag, and the pipeline
/// checks it between batches, so the batch in flight is finished and written.
public enum StopRequest {
    private static let flag = Atomic<Int32>(0)

    /// The signal that asked to stop, or nil.
    public static var signal: Int32? {
        let s = flag.load(ordering: .relaxed)
        return s == 0 ? nil : s
    }

    /// Installs the handlers (sigaction with SA_RESTART, so interrupted reads and writes
    /// resume instead of failing).
    public static func install() {
        for sig in [SIGTERM, SIGINT] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { received in StopRequest.flag.store(received, ordering: .relaxed) }
            sigemptyset(&action.sa_mask)
            action.sa_flags = SA_RESTART
            sigaction(sig, &action, nil)
        }
    }
}
