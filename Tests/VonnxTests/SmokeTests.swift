import Testing
@testable import VonnxIR

@Test func tensorRoundTrip() {
    let t = Tensor(shape: [2, 2], scalars: [1, 2, 3, 4] as [Float])
    #expect(t.scalars(as: Float.self) == [1, 2, 3, 4])
}
