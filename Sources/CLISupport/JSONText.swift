import Foundation

/// JSON text for a report the programs print: one line, keys sorted for stable output, `/` not escaped.
///
/// ```swift
/// try StandardOutput.line(try jsonText(TokenizeReport(ids: ids, tokens: pieces)))   // {"ids":[15496],"tokens":["Hello"]}
/// ```
///
/// The order is by UTF-8 code unit. For the reports' keys (lowercase ASCII words joined by underscores, no two of
/// an object first differing at a digit against an underscore) that is the order the programs printed with
/// JSONSerialization's `.sortedKeys`, which compares without case and numbers by value.
public func jsonText<Value: Encodable>(_ value: Value) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}
