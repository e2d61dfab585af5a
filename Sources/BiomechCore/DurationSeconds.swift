extension Duration {
    /// The duration in seconds, for timings printed or stored as numbers.
    public var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
