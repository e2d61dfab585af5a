/// How the kernel-3, stride-1 convolutions (most of the network's products) are computed.
///
/// `direct` unfolds the input (im2col) and runs one product; `winograd` uses Winograd's
/// F(2, 3) or F(4, 3) (``WinogradKernel3``): a third to a half fewer multiply-adds in the
/// forward pass and both gradients, the same function up to float rounding. Other convolutions (the stride-2
/// downsampling, the kernel-1 ones) are direct either way.
public enum ConvolutionAlgorithm: String, Sendable, CaseIterable, Codable {
    case direct
    case winograd
}
