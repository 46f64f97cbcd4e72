import VonnxIR

/// Read access to any tensor's elements as raw bytes (or strings), for kernels that only
/// move data: they work for every element type at once.
struct ElementSource: @unchecked Sendable {
    let pointer: UnsafeRawPointer
    let size: Int
    let strings: [String]
    let isString: Bool

    init(_ t: Tensor) {
        pointer = UnsafeRawPointer(t.storage.pointer)
        size = t.dataType.byteSize
        strings = t.storage.strings
        isString = t.dataType == .string
    }
}

/// A fresh output tensor being filled element by element. Distinct elements may be
/// written from different threads.
final class ElementBuffer: @unchecked Sendable {
    let dataType: DataType
    let shape: [Int]
    let count: Int
    let size: Int
    private let tensor: Tensor?
    let pointer: UnsafeMutableRawPointer
    private let strings: UnsafeMutableBufferPointer<String>?

    /// Zero-filled (or empty-string) elements; `shape` must have been checked by the caller.
    init(_ dataType: DataType, shape: [Int]) {
        self.dataType = dataType
        self.shape = shape
        count = shape.reduce(1, *)
        size = dataType.byteSize
        if dataType == .string {
            let s = UnsafeMutableBufferPointer<String>.allocate(capacity: max(count, 1))
            s.initialize(repeating: "")
            strings = s
            tensor = nil
            pointer = UnsafeMutableRawPointer(s.baseAddress!)
        } else {
            let t = Tensor(zeros: dataType, shape: shape)
            tensor = t
            pointer = t.storage.pointer
            strings = nil
        }
    }

    deinit {
        if let strings { strings.deinitialize(); strings.deallocate() }
    }

    /// The finished tensor.
    func finish() -> Tensor {
        if let tensor { return tensor }
        return Tensor(strings: Array(strings!.prefix(count)), shape: shape)
    }

    /// Copies `n` consecutive elements of `src` starting at `s` to `d...`.
    @inline(__always) func copy(_ src: ElementSource, _ s: Int, to d: Int, count n: Int) {
        guard n > 0 else { return }
        if let strings {
            for i in 0..<n { strings[d + i] = src.strings[s + i] }
        } else {
            (pointer + d * size).copyMemory(from: src.pointer + s * size, byteCount: n * size)
        }
    }

    /// Copies `n` elements of `src` read from `s` with step `step` (possibly 0 or negative)
    /// to consecutive elements at `d`.
    func copy(_ src: ElementSource, _ s: Int, step: Int, to d: Int, count n: Int) {
        guard n > 0 else { return }
        if step == 1 { copy(src, s, to: d, count: n); return }
        if let strings {
            for i in 0..<n { strings[d + i] = src.strings[s + i * step] }
            return
        }
        switch size {
        case 1: stridedRun(UInt8.self, src.pointer, s, step, pointer, d, n)
        case 2: stridedRun(UInt16.self, src.pointer, s, step, pointer, d, n)
        case 4: stridedRun(UInt32.self, src.pointer, s, step, pointer, d, n)
        default: stridedRun(UInt64.self, src.pointer, s, step, pointer, d, n)
        }
    }

    /// Writes element `s` of `src` to `n` consecutive elements at `d`.
    func fill(_ src: ElementSource, _ s: Int, to d: Int, count n: Int) { copy(src, s, step: 0, to: d, count: n) }
}

@inline(__always) private func stridedRun<T>(_: T.Type, _ src: UnsafeRawPointer, _ s: Int, _ step: Int,
                                             _ dst: UnsafeMutableRawPointer, _ d: Int, _ n: Int) {
    let ps = src.assumingMemoryBound(to: T.self), pd = dst.assumingMemoryBound(to: T.self)
    var j = s
    for i in d..<(d + n) { pd[i] = ps[j]; j += step }
}

/// A new contiguous tensor of `shape` whose element at index (i0, i1, ...) is `src`'s element
/// at `offset + Σ ik·strides[k]` (strides may be 0 or negative). Transpose, Slice, Expand,
/// Tile and the depth/space ops are all this copy. The caller guarantees every offset is in range.
func stridedCopy(_ src: Tensor, offset: Int = 0, strides: [Int], shape: [Int], pool: ThreadPool) -> Tensor {
    let out = ElementBuffer(src.dataType, shape: shape)
    guard out.count > 0 else { return out.finish() }
    // drop unit dims and merge dims that are contiguous with the next one
    var dims: [Int] = [], steps: [Int] = []
    for (d, s) in zip(shape, strides) where d != 1 {
        if let ld = dims.last, let ls = steps.last, ls == s * d {
            dims[dims.count - 1] = ld * d; steps[steps.count - 1] = s
        } else { dims.append(d); steps.append(s) }
    }
    let source = ElementSource(src)
    let r = dims.count
    if r >= 2, steps[r - 2] == 1, steps[r - 1] != 1, src.dataType != .string {
        transposeLastTwo(source, offset: offset, dims: dims, steps: steps, out: out, pool: pool)
        return out.finish()
    }
    let inner = steps.last ?? 1
    forEachRun(shape: dims, strides: [steps], pool: pool) { o, offs, n in
        out.copy(source, offset + offs[0], step: inner, to: o, count: n)
    }
    return out.finish()
}

/// Output [..., A, B] from a source whose A axis has step 1 and B axis a larger step: a batch
/// of 2-D transposes, done in cache-sized tiles.
private func transposeLastTwo(_ src: ElementSource, offset: Int, dims: [Int], steps: [Int],
                              out: ElementBuffer, pool: ThreadPool) {
    let r = dims.count
    let rows = dims[r - 2], cols = dims[r - 1], colStep = steps[r - 1]
    let batchDims = Array(dims.prefix(r - 2)), batchSteps = Array(steps.prefix(r - 2))
    let batch = batchDims.reduce(1, *)
    let tile = 64
    let rowTiles = (rows + tile - 1) / tile
    pool.parallelFor(batch * rowTiles, grain: max(1, 4096 / (tile * max(cols, 1)))) { range in
        for job in range {
            let b = job / rowTiles, rt = job % rowTiles
            var rem = b, base = offset
            for k in stride(from: batchDims.count - 1, through: 0, by: -1) {
                base += (rem % batchDims[k]) * batchSteps[k]; rem /= batchDims[k]
            }
            let r0 = rt * tile, r1 = min(rows, r0 + tile)
            var c0 = 0
            while c0 < cols {
                let c1 = min(cols, c0 + tile)
                let dst = (b * rows) * cols
                switch src.size {
                case 1: transposeTile(UInt8.self, src.pointer, base, colStep, out.pointer, dst, cols, r0, r1, c0, c1)
                case 2: transposeTile(UInt16.self, src.pointer, base, colStep, out.pointer, dst, cols, r0, r1, c0, c1)
                case 4: transposeTile(UInt32.self, src.pointer, base, colStep, out.pointer, dst, cols, r0, r1, c0, c1)
                default: transposeTile(UInt64.self, src.pointer, base, colStep, out.pointer, dst, cols, r0, r1, c0, c1)
                }
                c0 = c1
            }
        }
    }
}

/// One tile of out[dst + i·cols + j] = src[base + i + j·colStep]: source runs are read
/// contiguously into a small buffer, then output rows are written contiguously from it.
@inline(__always) private func transposeTile<T>(_: T.Type, _ src: UnsafeRawPointer, _ base: Int, _ colStep: Int,
                                                _ dst: UnsafeMutableRawPointer, _ d: Int, _ cols: Int,
                                                _ r0: Int, _ r1: Int, _ c0: Int, _ c1: Int) {
    let ps = src.assumingMemoryBound(to: T.self), pd = dst.assumingMemoryBound(to: T.self)
    let h = r1 - r0, w = c1 - c0
    withUnsafeTemporaryAllocation(of: T.self, capacity: h * w) { buf in
        for j in 0..<w {
            let s = ps + base + (c0 + j) * colStep + r0
            for i in 0..<h { buf[j * h + i] = s[i] }
        }
        for i in 0..<h {
            let o = pd + d + (r0 + i) * cols + c0
            for j in 0..<w { o[j] = buf[j * h + i] }
        }
    }
}
