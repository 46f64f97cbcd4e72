import Glibc
import VonnxIR

/// Weights transformed for a kernel (Winograd-domain filters, packed GEMM panels), computed
/// once per weight storage and kind. A weight tensor's storage is read-only once published,
/// so a transform stays valid while the storage lives; sources are held weakly, so a freed
/// storage whose identity is reused never matches, and entries of freed storages are dropped
/// on the next miss.
final class DerivedWeights: @unchecked Sendable {
    private struct Key: Hashable { let storage: ObjectIdentifier; let kind: String }
    private struct Entry { weak var source: TensorStorage?; let shape: [Int]; let dataType: DataType; let value: Tensor }
    private var entries: [Key: Entry] = [:]
    private var mutex = pthread_mutex_t()

    init() { pthread_mutex_init(&mutex, nil) }
    deinit { pthread_mutex_destroy(&mutex) }

    /// The `kind` transform of `w`, made by `make` on the first call for this storage.
    func value(for w: Tensor, kind: String, make: () -> Tensor) -> Tensor {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        let key = Key(storage: ObjectIdentifier(w.storage), kind: kind)
        if let e = entries[key], e.source === w.storage, e.shape == w.shape, e.dataType == w.dataType { return e.value }
        entries = entries.filter { $0.value.source != nil }
        let v = make()
        entries[key] = Entry(source: w.storage, shape: w.shape, dataType: w.dataType, value: v)
        return v
    }
}

/// The process's transformed weights, shared by every session.
let derivedWeights = DerivedWeights()
