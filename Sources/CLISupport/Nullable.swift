/// A report field that is `null` in the JSON when it has no value, where an optional is otherwise left out:
/// for keys that are always there (`"seed": null` for greedy decoding).
///
/// ```swift
/// struct Report: Encodable { @Nullable var seed: UInt64? }   // {"seed":null}
/// ```
@propertyWrapper
public struct Nullable<Value: Encodable>: Encodable {
    public var wrappedValue: Value?

    public init(wrappedValue: Value?) {
        self.wrappedValue = wrappedValue
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let wrappedValue { try container.encode(wrappedValue) } else { try container.encodeNil() }
    }
}

extension Nullable: Sendable where Value: Sendable {}
