import BiomechCore
import Testing

struct CheckedProductTests {
    @Test func productOfSizesOrNilWhenCorrupt() {
        #expect(checkedProduct([]) == 1)
        #expect(checkedProduct([3, 4, 5]) == 60)
        #expect(checkedProduct([7, 0, 9]) == 0)
        #expect(checkedProduct([2, -1]) == nil)
        #expect(checkedProduct([4_294_967_296, 4_294_967_296]) == nil)
        #expect(checkedProduct([Int.max, 1]) == Int.max)
    }
}
