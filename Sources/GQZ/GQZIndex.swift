/// The JSON index at the end of a `.gqz` file (formats/GQZ.md §4): what `GQZWriter` writes and `GQZFile` reads.
///
/// ```json
/// {"format": "gqz", "metadata": {...}, "required_features": [], "tensors": [{"name": "wte.weight", ...}], "version": 1}
/// ```
///
/// `Metadata` is the writer's own type (gpt2-quant's is `GPT2FileMetadata`); a reader keeps it as `JSONValue`, as it
/// keeps every key. Decoding checks each value's type and each entry by itself (`GQZEntry`'s decoding) and throws a
/// `GQZIndexProblem`; `GQZFile` then checks what depends on the file: the preamble's version, the features it
/// knows, where each entry's bytes lie.
struct GQZIndex<Metadata> {
    var format: String
    var version: Int
    var requiredFeatures: [String]
    var metadata: Metadata
    var tensors: [GQZEntry]

    enum CodingKeys: String, CodingKey {
        case format, version, metadata, tensors
        case requiredFeatures = "required_features"
    }
}

extension GQZIndex: Sendable where Metadata: Sendable {}

extension GQZIndex: Encodable where Metadata: Encodable {}

extension GQZIndex: Decodable where Metadata == JSONValue {
    init(from decoder: any Decoder) throws {
        guard let json = try? decoder.container(keyedBy: CodingKeys.self) else { throw GQZIndexProblem.corrupt("not a JSON object") }
        func value(_ key: CodingKeys) -> JSONValue? { (try? json.decodeIfPresent(JSONValue.self, forKey: key)) ?? nil }
        guard case .string("gqz")? = value(.format) else { throw GQZIndexProblem.corrupt("format is not \"gqz\"") }
        guard case .integer(let version)? = value(.version) else { throw GQZIndexProblem.versionNotAnInteger(found: value(.version)) }
        guard let features = try? json.decode([String].self, forKey: .requiredFeatures) else {
            throw GQZIndexProblem.corrupt("required_features is not a list of strings")
        }
        var metadata: JSONValue = [:]   // what a metadata that is not an object reads as
        if let found = value(.metadata), case .object = found { metadata = found }
        guard var list = try? json.nestedUnkeyedContainer(forKey: .tensors) else { throw GQZIndexProblem.corrupt("tensors is not a list") }
        var tensors: [GQZEntry] = []
        while !list.isAtEnd { tensors.append(try list.decode(GQZEntry.self)) }
        self.init(format: "gqz", version: version, requiredFeatures: features, metadata: metadata, tensors: tensors)
    }
}

/// What is wrong with an index, found while decoding it; `GQZFile` reports it as a `GQZError` naming the file.
enum GQZIndexProblem: Error {
    case corrupt(String)
    /// `version` is missing or not an integer (reported with the preamble's version).
    case versionNotAnInteger(found: JSONValue?)
    case invalidEntry(tensor: String, reason: String)
}
