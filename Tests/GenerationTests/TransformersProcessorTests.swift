import Foundation
import Testing
import TestSupport
@testable import Generation

/// Our logits processors against transformers' own, on fixed logits (Tests/Fixtures/sampling/processors.json,
/// written by tools/reference/processors.py): the same tokens removed, the same values elsewhere.
@Suite struct TransformersProcessorTests {
    struct Case {
        let name: String
        let arguments: [String: Double]
        let output: [[Float?]]
    }

    static let reference: (context: [Int], rows: [[Float]], cases: [Case]) = {
        let json = try! Fixtures.json(Fixtures.local.appendingPathComponent("sampling/processors.json"))
        let rows = (json["rows"] as! [Any]).map { ($0 as! [Any]).floats }
        let cases = (json["cases"] as! [[String: Any]]).map { item in
            Case(name: item["name"] as! String,
                 arguments: (item["args"] as! [String: Any]).mapValues { ($0 as! NSNumber).doubleValue },
                 output: (item["output"] as! [Any]).map { row in (row as! [Any]).map { ($0 as? NSNumber).map { Float($0.doubleValue) } } })
        }
        return ((json["context"] as! [Any]).ints, rows, cases)
    }()

    /// Applies what a case names, in generate()'s order.
    static func apply(_ arguments: [String: Double], to row: [Float], context: [Int]) -> [Float] {
        var scores = row
        if let penalty = arguments["penalty"] { LogitsProcessors.applyRepetitionPenalty(&scores, context: context, penalty: Float(penalty)) }
        if let size = arguments["size"] { LogitsProcessors.applyNoRepeatNGram(&scores, context: context, size: Int(size)) }
        if let temperature = arguments["temperature"] { LogitsProcessors.applyTemperature(&scores, temperature: Float(temperature)) }
        if let k = arguments["k"] { LogitsProcessors.applyTopK(&scores, k: Int(k)) }
        if let p = arguments["p"] { LogitsProcessors.applyTopP(&scores, p: Float(p)) }
        if let minP = arguments["min_p"] { LogitsProcessors.applyMinP(&scores, minP: Float(minP)) }
        if let mass = arguments["mass"] { LogitsProcessors.applyTypical(&scores, mass: Float(mass)) }
        return scores
    }

    @Test(arguments: reference.cases.map(\.name))
    func matchesTransformers(caseName: String) {
        let reference = Self.reference
        let testCase = reference.cases.first { $0.name == caseName }!
        for (index, row) in reference.rows.enumerated() {
            let ours = Self.apply(testCase.arguments, to: row, context: reference.context)
            for (token, (got, expected)) in zip(ours, testCase.output[index]).enumerated() {
                if let expected {
                    #expect(got.isFinite && abs(got - expected) <= 1e-5 * max(1, abs(expected)),
                            "\(caseName) row \(index) token \(token): \(got) vs \(expected)")
                } else {
                    #expect(got == -.infinity, "\(caseName) row \(index) token \(token) should be removed, got \(got)")
                }
            }
        }
    }

    @Test func samplerChainsThemInGenerateOrder() {
        // The Sampler's processed scores equal the reference chain.
        let reference = Self.reference
        let chain = reference.cases.first { $0.name == "chain" }!
        var options = SamplingOptions(temperature: 0.8, topK: 12, topP: 0.95, repetitionPenalty: 1.2, seed: 1)
        options.minP = 0.02
        options.typicalP = 0.95
        options.noRepeatNGramSize = 2
        let sampler = Sampler(options: options)
        for (index, row) in reference.rows.enumerated() {
            let ours = sampler.processedLogits(row, context: reference.context)
            for (got, expected) in zip(ours, chain.output[index]) {
                if let expected { #expect(abs(got - expected) <= 1e-5 * max(1, abs(expected))) } else { #expect(got == -.infinity) }
            }
        }
    }
}
