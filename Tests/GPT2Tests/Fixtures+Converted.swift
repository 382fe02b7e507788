import Foundation
import TestSupport
@testable import GPT2Edge

extension Fixtures {
    /// The fixture model `model` (Tests/Fixtures/models) converted to a `bits`-bit `.gqz` in `directory`; its path.
    static func converted(_ model: String, bits: Int, into directory: URL) throws -> String {
        let output = directory.appendingPathComponent("\(model)-q\(bits).gqz")
        _ = try ModelConverter.convert(folder: local.appendingPathComponent("models/\(model)"), to: output,
                                       options: ConversionOptions(bits: bits, threads: 2))
        return output.path
    }
}
