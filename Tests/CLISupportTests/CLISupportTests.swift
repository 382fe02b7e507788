import CLISupport
import Foundation
import Kernels
import Testing

@Suite struct ByteSizeTests {
    @Test func unitsArePowersOf1024() throws {
        #expect(try ByteSize(parsing: "512M").bytes == 512 << 20)
        #expect(try ByteSize(parsing: "1.5G").bytes == 3 << 29)
        #expect(try ByteSize(parsing: "300MiB").bytes == 300 << 20)
        #expect(try ByteSize(parsing: "2gb").bytes == 2 << 30)
        #expect(try ByteSize(parsing: "64K").bytes == 64 << 10)
        #expect(try ByteSize(parsing: "4096B").bytes == 4096)
    }

    @Test func bareNumbersNegativesAndWordsAreRefusedWithTheReason() {
        func reason(_ text: String) -> String {
            do { _ = try ByteSize(parsing: text); return "accepted" } catch { return "\(error)" }
        }
        #expect(reason("512").contains("has no unit; write 512M"))
        #expect(reason("-5M").contains("must be more than zero"))
        #expect(reason("0G").contains("must be more than zero"))
        #expect(reason("lots").contains("is not a size"))
        #expect(reason("1e30G").contains("too large"))
    }
}

@Suite struct KVCachePrecisionArgumentTests {
    @Test func llamaCppNamesAndAnyCaseAreAccepted() {
        #expect(KVStorage.Precision(argument: "q8_0") == .int8)
        #expect(KVStorage.Precision(argument: "Q8_0") == .int8)
        #expect(KVStorage.Precision(argument: "F16") == .f16)
        #expect(KVStorage.Precision(argument: "f32") == .f32)
        #expect(KVStorage.Precision(argument: "q4_0") == nil)
    }
}

@Suite struct InputTextTests {
    static func file(_ bytes: [UInt8]) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("input-\(UUID().uuidString).txt").path
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    @Test func keepsOnlyTheTailOfALongInput() throws {
        let text = (0..<200_000).map { "w\($0) " }.joined()
        let path = try Self.file(Array(text.utf8))
        defer { unlink(path) }
        let input = try InputText.read(path: path, limit: 10_000, keepTail: true)
        #expect(input.wasCut)
        #expect(input.bytesRead == text.utf8.count)
        #expect(input.text.utf8.count == 10_000)
        #expect(text.hasSuffix(input.text))
    }

    @Test func refusesWithoutReadingTheRestWhenNotKeepingTheTail() throws {
        let path = try Self.file([UInt8](repeating: UInt8(ascii: "a"), count: 1 << 20))
        defer { unlink(path) }
        let input = try InputText.read(path: path, limit: 1000)
        #expect(input.wasCut && input.text.isEmpty)
        #expect(input.bytesRead < 1 << 20)   // stopped after the first chunk past the limit
        let whole = try InputText.read(path: path, limit: 1 << 20)
        #expect(!whole.wasCut && whole.text.utf8.count == 1 << 20)
    }

    @Test func aCharacterSplitByTheCutIsDropped() throws {
        let text = String(repeating: "é", count: 5000)   // two bytes each
        let path = try Self.file(Array(text.utf8))
        defer { unlink(path) }
        let input = try InputText.read(path: path, limit: 1001, keepTail: true)
        #expect(input.text == String(repeating: "é", count: 500))
    }

    @Test func notUTF8AndFoldersAndMissingFilesAreNamed() throws {
        let path = try Self.file([0x66, 0xFF, 0xFE])
        defer { unlink(path) }
        #expect(throws: InputText.Failure.self) { try InputText.read(path: path) }
        do { _ = try InputText.read(path: path); Issue.record("accepted") } catch { #expect("\(error)" == "\(path) is not UTF-8 text") }
        do { _ = try InputText.read(path: "/tmp"); Issue.record("accepted") } catch { #expect("\(error)".contains("it is a folder")) }
        do { _ = try InputText.read(path: "/nonexistent/p.txt"); Issue.record("accepted") } catch {
            #expect("\(error)" == "cannot read /nonexistent/p.txt: No such file or directory")
        }
    }
}

@Suite struct JSONTextTests {
    struct Report: Encodable {
        var name: String
        var score: Float?
        @Nullable var seed: UInt64?
        var path: String
    }

    @Test func keysAreSortedNilIsLeftOutOrNullAndSlashesStay() throws {
        #expect(try jsonText(Report(name: "a", score: nil, seed: nil, path: "x/y")) == #"{"name":"a","path":"x/y","seed":null}"#)
        #expect(try jsonText(Report(name: "a", score: 0.5, seed: 7, path: "")) == #"{"name":"a","path":"","score":0.5,"seed":7}"#)
    }
}

@Suite struct ArgumentBytesTests {
    @Test func findsTheFirstByteThatIsNotUTF8() {
        let valid: [[UInt8]] = [Array("gpt2-edge".utf8), Array("-p".utf8), Array("café 😀".utf8)]
        #expect(ArgumentBytes.firstInvalid(in: valid) == nil)
        // The program's name is not checked; a lone continuation byte, a truncated sequence, an overlong NUL and a
        // surrogate are.
        #expect(ArgumentBytes.firstInvalid(in: [[0xFF], Array("ok".utf8)]) == nil)
        #expect(ArgumentBytes.firstInvalid(in: [[], Array("ok".utf8), [0x61, 0x80, 0x62]])
                == .init(position: 2, byteOffset: 1, byte: 0x80))
        #expect(ArgumentBytes.firstInvalid(in: [[], Array("é".utf8) + [0xE2, 0x82]])?.byteOffset == 2)
        #expect(ArgumentBytes.firstInvalid(in: [[], [0xC0, 0x80]])?.byte == 0xC0)
        #expect(ArgumentBytes.firstInvalid(in: [[], [0xED, 0xA0, 0x80]])?.position == 1)
    }
}
