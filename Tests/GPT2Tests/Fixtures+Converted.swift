import Foundation
import TestSupport
@testable import GPT2Edge

extension Fixtures {
    /// The fixture model `model` (Tests/Fixtures/models) converted to a `bits`-bit `.gqz` in `directory`; its path.
    static func converted(_ model: String, bits: Int, into directory: URL,
                          frameRows: Int? = ConversionOptions.defaultFrameRows) throws -> String {
        let output = directory.appendingPathComponent("\(model)-q\(bits)-f\(frameRows ?? 0).gqz")
        var options = ConversionOptions(bits: bits, threads: 2)
        options.vocabularyFrameRows = frameRows
        _ = try ModelConverter.convert(folder: local.appendingPathComponent("models/\(model)"), to: output, options: options)
        return output.path
    }
}
