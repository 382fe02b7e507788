// The library product: one import for an app.
//
// ```swift
// import GPT2Edge
// let model = try LoadedModel.load(ModelSource.open(path: "gpt2-q8.gqz"))
// let result = try TextGenerator(model: model).generate(prompt: "The meaning of life is", options: GenerationOptions(maxNewTokens: 20))
// ```
@_exported import Checkpoint
@_exported import Conversion
@_exported import GPT2
@_exported import GQZ
@_exported import Generation
@_exported import Kernels
@_exported import Quantization
@_exported import Runtime
@_exported import Tokenizer
@_exported import WeightFormat
