import Testing
import Synchronization
import Vonnx

// The tensor API as a library user sees it: typed initializers, checked accessors, wrapping of
// the caller's memory and printing.

private func message(_ body: () throws -> Void) -> String {
    do { try body(); return "no error" } catch { return "\(error)" }
}

/// The public, checked accessor: with `T` known only as a `TensorScalar`, the unchecked
/// overload the package's kernels use cannot be chosen.
private func read<T: TensorScalar>(_ t: Tensor, as type: T.Type) throws -> [T] {
    try t.scalars(as: type)
}

/// y = Identity(x) and z = Cast(x, to: float64), with x: T[n].
private func identityAndCastSession(_ type: DataType) throws -> Session {
    let graph = Graph(
        name: "g",
        nodes: [Node(name: "id", opType: "Identity", inputs: ["x"], outputs: ["y"]),
                Node(name: "cast", opType: "Cast", inputs: ["x"], outputs: ["z"],
                     attributes: ["to": .int(Int(DataType.double.rawValue))])],
        inputs: [ValueInfo(name: "x", type: .tensor(type, shape: [.symbol("n")]))],
        outputs: [ValueInfo(name: "y", type: nil), ValueInfo(name: "z", type: nil)])
    return try Session(model: Model(irVersion: 8, opsets: ["": 19], graph: graph), options: SessionOptions(threads: 1, backend: .cpu))
}

/// Runs `x` (made from `values`) through the Identity/Cast model and reads both outputs back.
private func roundTrip<T: TensorScalar & Equatable>(_ x: Tensor, _ values: [T], asDoubles: [Double]) throws {
    let session = try identityAndCastSession(T.dataType)
    #expect(session.inputs[0].elementType == T.dataType && x.dataType == T.dataType)
    let outputs = try session.run(["x": x])
    #expect(try read(outputs["y"]!, as: T.self) == values)
    #expect(try read(outputs["z"]!, as: Double.self) == asDoubles)
}

private func roundTrip<T: TensorElement & Equatable>(_ values: [T], asDoubles: [Double]) throws {
    try roundTrip(Tensor(shape: [values.count], scalars: values), values, asDoubles: asDoubles)
}

@Test func everyElementTypeRoundTripsThroughASession() throws {
    try roundTrip([1.5, -2, 0.25] as [Float], asDoubles: [1.5, -2, 0.25])
    try roundTrip([1e300, -0.1, 0] as [Double], asDoubles: [1e300, -0.1, 0])
    try roundTrip([0.5, -1024, 65504] as [Float16], asDoubles: [0.5, -1024, 65504])
    try roundTrip([.min, -1, .max] as [Int8], asDoubles: [-128, -1, 127])
    try roundTrip([.min, -1, .max] as [Int16], asDoubles: [-32768, -1, 32767])
    try roundTrip([.min, -1, .max] as [Int32], asDoubles: [-2147483648, -1, 2147483647])
    try roundTrip([.min, -1, 1 << 53] as [Int64], asDoubles: [-0x1p63, -1, 0x1p53])
    try roundTrip([0, 1, .max] as [UInt8], asDoubles: [0, 1, 255])
    try roundTrip([0, 1, .max] as [UInt16], asDoubles: [0, 1, 65535])
    try roundTrip([0, 1, .max] as [UInt32], asDoubles: [0, 1, 4294967295])
    try roundTrip([0, 1, 1 << 63] as [UInt64], asDoubles: [0, 1, 0x1p63])
    try roundTrip([true, false, true], asDoubles: [1, 0, 1])
    let strings = ["1.5", "-2", "inf"]
    try roundTrip(Tensor(shape: [3], scalars: strings), strings, asDoubles: [1.5, -2, .infinity])
}

@Test func readingAsAnotherTypeThrowsNamingTheTensorsType() {
    let t = Tensor(shape: [2], scalars: [1, 2] as [Int64])
    #expect(message { _ = try read(t, as: Float.self) } == "the tensor is int64[2], not float32 (Float)")
    #expect(message { _ = try t.scalars(as: String.self) } == "the tensor is int64[2], not string (String)")
    #expect(message { _ = try read(Tensor(shape: [], scalars: ["a"]), as: UInt8.self) } == "the tensor is string[], not uint8 (UInt8)")
}

/// Counts calls of a deallocator.
private final class Calls: Sendable {
    let count = Atomic<Int>(0)
}

@Test func wrappedMemoryIsReadInPlaceAndGivenBackOnceNoTensorUsesIt() throws {
    let memory = UnsafeMutableBufferPointer<Int32>.allocate(capacity: 6)
    _ = memory.initialize(from: [1, -2, 3, -4, 5, -6])
    let freed = Calls()
    do {
        let x = try Tensor(shape: [6], wrapping: UnsafeBufferPointer(memory)) { buffer in
            freed.count.add(1, ordering: .relaxed)
            buffer.deallocate()
        }
        #expect(x.storage.pointer == UnsafeMutableRawPointer(memory.baseAddress!))
        let outputs = try identityAndCastSession(.int32).run(["x": x])
        let y = outputs["y"]!
        #expect(try read(y, as: Int32.self) == [1, -2, 3, -4, 5, -6])
        #expect(try read(outputs["z"]!, as: Double.self) == [1, -2, 3, -4, 5, -6])
        // Identity hands back its input: the output still reads the caller's memory.
        withExtendedLifetime(y) {
            #expect(y.storage.pointer == UnsafeMutableRawPointer(memory.baseAddress!))
            #expect(freed.count.load(ordering: .relaxed) == 0)
        }
    }
    #expect(freed.count.load(ordering: .relaxed) == 1)
}

@Test func wrappingAShapeThatDoesNotFitThrows() {
    let memory = [Float](repeating: 0, count: 4)
    memory.withUnsafeBufferPointer { buffer in
        #expect(message { _ = try Tensor(shape: [2, 3], wrapping: buffer) { _ in } }
            == "shape [2, 3] does not hold the 4 elements of the wrapped buffer")
        #expect(message { _ = try Tensor(shape: [1 << 62, 8], wrapping: buffer) { _ in } }
            == "shape [4611686018427387904, 8] does not hold the 4 elements of the wrapped buffer")
    }
}

@Test func descriptionShowsTypeShapeAndTheFirstElements() {
    #expect("\(Tensor(shape: [2, 4], scalars: (1...8).map { Float($0) / 2 }))"
        == "Tensor<float32>[2, 4] [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, …]")
    #expect("\(Tensor(scalar: Int64.min))" == "Tensor<int64>[] [-9223372036854775808]")
    #expect("\(Tensor(shape: [2], scalars: [UInt64.max, 0]))" == "Tensor<uint64>[2] [18446744073709551615, 0]")
    #expect("\(Tensor(shape: [3], scalars: [true, false, true]))" == "Tensor<bool>[3] [true, false, true]")
    #expect("\(Tensor(shape: [1, 2], scalars: ["a", "b c"]))" == "Tensor<string>[1, 2] [\"a\", \"b c\"]")
    #expect("\(Tensor(shape: [0, 3], scalars: [] as [Float16]))" == "Tensor<float16>[0, 3] []")
}
