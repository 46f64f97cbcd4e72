import CBLAS
import CGemm
import Glibc
import VonnxIR

/// Real element types with the math and BLAS calls the neural-network kernels need
/// (float32 and float64; float16 and bfloat16 run widened to float32 through `widenFloat16`).
public protocol RealElement: ArithmeticElement, BinaryFloatingPoint {
    static func exp(_ x: Self) -> Self
    static func log(_ x: Self) -> Self
    static func pow(_ x: Self, _ y: Self) -> Self
    /// Row-major C[m×n] = alpha·op(A)·op(B) + beta·C on the calling thread.
    static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Self,
                     a: UnsafePointer<Self>, lda: Int, b: UnsafePointer<Self>, ldb: Int,
                     beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
    /// y[m] = alpha·op(A)·x + beta·y for row-major A (m×n, or n×m when `trans`) on the calling thread.
    static func gemv(trans: Bool, m: Int, n: Int, alpha: Self, a: UnsafePointer<Self>, lda: Int,
                     x: UnsafePointer<Self>, incx: Int, beta: Self, y: UnsafeMutablePointer<Self>)
}

/// OpenBLAS's own threads are process-global; kernels split work over the session's pool
/// instead, so BLAS is set to one thread once, before its first use.
private let blasSingleThreaded: Bool = { openblas_set_num_threads(1); return true }()

@inline(__always) private func cblasTranspose(_ t: Bool) -> CBLAS_TRANSPOSE { t ? CblasTrans : CblasNoTrans }

extension Float: RealElement {
    @inline(__always) public static func exp(_ x: Float) -> Float { Glibc.expf(x) }
    @inline(__always) public static func log(_ x: Float) -> Float { Glibc.logf(x) }
    @inline(__always) public static func pow(_ x: Float, _ y: Float) -> Float { Glibc.powf(x, y) }
    public static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                            a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                            beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        // CGemm's kernel where it runs (OpenBLAS took its SSE3 kernels on an AVX-512 Xeon it
        // did not know, ~20 GFLOP/s), for the plain product it computes
        if PackedGemm.available, alpha == 1, beta == 0, m > 1, n > 1, max(m, n, k) <= Int(Int32.max) {
            vx_matmul(Int32(m), Int32(n), Int32(k), vx_matrix(p: a, rs: transA ? 1 : lda, cs: transA ? lda : 1),
                      vx_matrix(p: b, rs: transB ? 1 : ldb, cs: transB ? ldb : 1), nil, c, Int32(ldc), nil, 0, vx_activation(), 0, Int32(n))
            return
        }
        _ = blasSingleThreaded
        cblas_sgemm(CblasRowMajor, cblasTranspose(transA), cblasTranspose(transB), Int32(m), Int32(n), Int32(k),
                    alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
    public static func gemv(trans: Bool, m: Int, n: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
                            x: UnsafePointer<Float>, incx: Int, beta: Float, y: UnsafeMutablePointer<Float>) {
        _ = blasSingleThreaded
        let (rows, cols) = trans ? (n, m) : (m, n)
        cblas_sgemv(CblasRowMajor, cblasTranspose(trans), Int32(rows), Int32(cols), alpha, a, Int32(lda), x, Int32(incx), beta, y, 1)
    }
}

extension Double: RealElement {
    @inline(__always) public static func exp(_ x: Double) -> Double { Glibc.exp(x) }
    @inline(__always) public static func log(_ x: Double) -> Double { Glibc.log(x) }
    @inline(__always) public static func pow(_ x: Double, _ y: Double) -> Double { Glibc.pow(x, y) }
    public static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Double,
                            a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
                            beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int) {
        _ = blasSingleThreaded
        cblas_dgemm(CblasRowMajor, cblasTranspose(transA), cblasTranspose(transB), Int32(m), Int32(n), Int32(k),
                    alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
    public static func gemv(trans: Bool, m: Int, n: Int, alpha: Double, a: UnsafePointer<Double>, lda: Int,
                            x: UnsafePointer<Double>, incx: Int, beta: Double, y: UnsafeMutablePointer<Double>) {
        _ = blasSingleThreaded
        let (rows, cols) = trans ? (n, m) : (m, n)
        cblas_dgemv(CblasRowMajor, cblasTranspose(trans), Int32(rows), Int32(cols), alpha, a, Int32(lda), x, Int32(incx), beta, y, 1)
    }
}

/// Like `ElementVisitor`, for kernels defined on real numbers only.
public protocol RealVisitor {
    associatedtype Output
    func callAsFunction<T: RealElement>(_ type: T.Type) throws -> Output
}

extension DataType {
    /// Calls `visitor` for float32 or float64; other types are refused naming the node.
    public func visitReal<V: RealVisitor>(_ visitor: V, _ ctx: KernelContext) throws -> V.Output {
        switch self {
        case .float: try visitor(Float.self)
        case .double: try visitor(Double.self)
        default: throw ctx.error("expects float32, float64, float16 or bfloat16 input, got \(self)")
        }
    }
}

/// A float16 tensor widened to float32, or a float32 one narrowed to float16.
func converted(_ t: Tensor, to type: DataType) -> Tensor {
    let out = Tensor(zeros: type, shape: t.shape)
    if type == .float {
        t.withUnsafeBufferPointer(as: Float16.self) { src in
            out.withUnsafeMutableBufferPointer(as: Float.self) { dst in for i in src.indices { dst[i] = Float(src[i]) } }
        }
    } else {
        t.withUnsafeBufferPointer(as: Float.self) { src in
            out.withUnsafeMutableBufferPointer(as: Float16.self) { dst in for i in src.indices { dst[i] = Float16(src[i]) } }
        }
    }
    return out
}

/// Wraps a float32/float64 kernel: float16 and bfloat16 inputs run widened to float32, and the
/// float32 outputs are narrowed back to the type of the first such input.
func widenFloat16(_ kernel: @escaping CPUKernel) -> CPUKernel {
    { ctx in
        let halves: Set<DataType> = [.float16, .bfloat16]
        guard let half = ctx.inputs.lazy.compactMap({ $0?.dataType }).first(where: halves.contains) else { return try kernel(ctx) }
        let wide = ctx.inputs.map { $0.map { halves.contains($0.dataType) ? widened($0, ctx) : $0 } }
        let inner = ctx.with(inputs: wide)
        return try kernel(inner).map { $0.dataType != .float ? $0 : half == .bfloat16 ? floatToBfloat16($0, ctx) : converted($0, to: .float16) }
    }
}

/// A float16 or bfloat16 tensor widened to float32.
private func widened(_ t: Tensor, _ ctx: KernelContext) -> Tensor {
    t.dataType == .bfloat16 ? bfloat16ToFloat(t, ctx) : converted(t, to: .float)
}

/// Row-major C = alpha·op(A)·op(B) + beta·C, split over the pool along the larger of M and N.
func parallelGemm<T: RealElement>(_ pool: ThreadPool, transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                                  alpha: T, a: UnsafePointer<T>, lda: Int, b: UnsafePointer<T>, ldb: Int,
                                  beta: T, c: UnsafeMutablePointer<T>, ldc: Int) {
    guard m > 0, n > 0 else { return }
    if k == 0 {
        // an empty product: BLAS rejects a zero leading dimension, so scale C by hand
        for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? .zero : beta * c[i * ldc + j] } }
        return
    }
    nonisolated(unsafe) let (pa, pb, pc) = (a, b, c)
    if m == 1 && n >= 64 {
        // a row vector times a matrix (a fully connected layer at batch 1): bound by reading B,
        // which GEMV streams once; the output columns split over the pool
        let incx = transA ? lda : 1
        parallelBlocks(pool, n, grain: 64) { r in
            // transB: B's rows are the outputs (y = B·x); else its columns (y = Bᵀ·x)
            T.gemv(trans: !transB, m: r.count, n: k, alpha: alpha,
                   a: transB ? pb + r.lowerBound * ldb : pb + r.lowerBound, lda: ldb,
                   x: pa, incx: incx, beta: beta, y: pc + r.lowerBound)
        }
        return
    }
    let work = m * n * max(k, 1)
    if pool.threads == 1 || work < 1 << 17 {
        T.gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: pa, lda: lda, b: pb, ldb: ldb,
               beta: beta, c: pc, ldc: ldc)
    } else if m >= n {
        parallelBlocks(pool, m, grain: 16) { r in
            T.gemm(transA: transA, transB: transB, m: r.count, n: n, k: k, alpha: alpha,
                   a: transA ? pa + r.lowerBound : pa + r.lowerBound * lda, lda: lda, b: pb, ldb: ldb,
                   beta: beta, c: pc + r.lowerBound * ldc, ldc: ldc)
        }
    } else {
        parallelBlocks(pool, n, grain: 16) { r in
            T.gemm(transA: transA, transB: transB, m: m, n: r.count, k: k, alpha: alpha, a: pa, lda: lda,
                   b: transB ? pb + r.lowerBound * ldb : pb + r.lowerBound, ldb: ldb,
                   beta: beta, c: pc + r.lowerBound, ldc: ldc)
        }
    }
}

/// `pool.parallelFor` over 0..<count in chunks that start at multiples of 16, so that each row
/// or column of a BLAS call lands in the same place of a kernel's unrolled block whatever the
/// thread count: BLAS sums a block's tail in another order, and a result that moved with the
/// chunking made a softmax over large, equal logits pick different winners at 1 and 2 threads.
private func parallelBlocks(_ pool: ThreadPool, _ count: Int, grain: Int, _ body: @Sendable (Range<Int>) -> Void) {
    let block = 16
    pool.parallelFor((count + block - 1) / block, grain: max(1, grain / block)) { r in
        body(r.lowerBound * block..<min(r.upperBound * block, count))
    }
}

/// Typed pointer to a tensor's elements (read-only use for inputs).
@inline(__always) func elements<T: TensorElement>(_ t: Tensor, _: T.Type) -> UnsafeMutablePointer<T> {
    t.storage.pointer.assumingMemoryBound(to: T.self)
}
