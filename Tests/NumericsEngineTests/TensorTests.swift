import Testing
@testable import NumericsEngine

@Suite struct TensorTests {
    @Test func transposeOfAMatrix() {
        let m = Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        let t = m.transposed()
        #expect(t.shape == [3, 2] && t.scalars == [1, 4, 2, 5, 3, 6])
        #expect(t.transposed().scalars == m.scalars)
    }
}
