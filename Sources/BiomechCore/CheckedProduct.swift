/// The product of sizes read from a file (a tensor's shape, an array's dimensions), or nil
/// when a factor is negative or the product overflows `Int`: corrupt headers must give an
/// error, not a trap.
public func checkedProduct(_ factors: [Int]) -> Int? {
    var product = 1
    for f in factors {
        guard f >= 0 else { return nil }
        let (p, overflow) = product.multipliedReportingOverflow(by: f)
        if overflow { return nil }
        product = p
    }
    return product
}
