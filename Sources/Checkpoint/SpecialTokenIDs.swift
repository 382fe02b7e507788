/// The special tokens a Hugging Face `config.json` or `generation_config.json` names by id.
///
/// ```swift
/// let ids = try JSONDecoder().decode(SpecialTokenIDs.self, from: Data(#"{"eos_token_id": 50256}"#.utf8))
/// ids.endOfText   // 50256
/// ```
///
/// An id that is not a single integer (a list of ids, say) reads as absent; encoding writes the ids that are known.
public struct SpecialTokenIDs: Codable, Sendable, Equatable {
    /// `eos_token_id`
    public var endOfText: Int?
    /// `bos_token_id`
    public var beginningOfText: Int?
    /// `pad_token_id`
    public var padding: Int?

    enum CodingKeys: String, CodingKey {
        case endOfText = "eos_token_id"
        case beginningOfText = "bos_token_id"
        case padding = "pad_token_id"
    }

    public init(endOfText: Int? = nil, beginningOfText: Int? = nil, padding: Int? = nil) {
        self.endOfText = endOfText
        self.beginningOfText = beginningOfText
        self.padding = padding
    }

    public init(from decoder: any Decoder) throws {
        let json = try decoder.container(keyedBy: CodingKeys.self)
        func id(_ key: CodingKeys) -> Int? { (try? json.decodeIfPresent(Int.self, forKey: key)) ?? nil }
        self.init(endOfText: id(.endOfText), beginningOfText: id(.beginningOfText), padding: id(.padding))
    }

    /// Each id of `self`, or of `fallback` where `self` has none.
    public func filling(from fallback: SpecialTokenIDs) -> SpecialTokenIDs {
        SpecialTokenIDs(endOfText: endOfText ?? fallback.endOfText, beginningOfText: beginningOfText ?? fallback.beginningOfText,
                        padding: padding ?? fallback.padding)
    }
}
