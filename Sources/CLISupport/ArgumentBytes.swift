#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The program's arguments as the kernel passed them, before Swift decodes them: `CommandLine.arguments` replaces
/// bytes that are not UTF-8 with U+FFFD, so a prompt or stop string with such bytes would run as different text
/// without a word. Both commands refuse them first instead.
public enum ArgumentBytes {
    /// The first argument that is not valid UTF-8: its position (1 = the first after the program's name), the
    /// offending byte and where it is.
    public struct InvalidArgument: Error, CustomStringConvertible, Equatable {
        public let position: Int
        public let byteOffset: Int
        public let byte: UInt8

        public init(position: Int, byteOffset: Int, byte: UInt8) {
            (self.position, self.byteOffset, self.byte) = (position, byteOffset, byte)
        }

        public var description: String {
            "argument \(position) is not valid UTF-8 (byte 0x\(String(byte, radix: 16, uppercase: true)) at offset \(byteOffset)); "
                + "arguments are read as UTF-8 text: put other bytes in a file and pass it with -f (a prompt) or --prompts-file"
        }
    }

    /// The first argument of `arguments` (raw bytes each, the program's name first) that is not UTF-8, if any.
    public static func firstInvalid(in arguments: [[UInt8]]) -> InvalidArgument? {
        for (position, bytes) in arguments.enumerated().dropFirst() {
            if let offset = firstInvalidOffset(bytes) {
                return InvalidArgument(position: position, byteOffset: offset, byte: bytes[offset])
            }
        }
        return nil
    }

    /// The same check on this process's own argv.
    public static func firstInvalidInCommandLine() -> InvalidArgument? {
        let arguments = (0..<Int(CommandLine.argc)).map { index -> [UInt8] in
            guard let pointer = CommandLine.unsafeArgv[index] else { return [] }
            return Array(UnsafeBufferPointer(start: UnsafeRawPointer(pointer).assumingMemoryBound(to: UInt8.self), count: strlen(pointer)))
        }
        return firstInvalid(in: arguments)
    }

    /// Exits with the usage status and a message naming the argument when argv holds bytes that are not UTF-8.
    public static func refuseInvalidUTF8(program: String) {
        guard let invalid = firstInvalidInCommandLine() else { return }
        let message = Array("\(program): error: \(invalid)\n".utf8)
        _ = message.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        exit(ExitCodes.usage)
    }

    /// The offset of the first byte where `bytes` stops being well-formed UTF-8 (overlong forms, surrogates and
    /// values past U+10FFFF included, as Swift's decoder judges them), or nil when all of it is.
    static func firstInvalidOffset(_ bytes: [UInt8]) -> Int? {
        var decoder = UTF8()
        var iterator = bytes.makeIterator()
        var offset = 0
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar): offset += UTF8.width(scalar)
            case .emptyInput: return nil
            case .error: return offset
            }
        }
    }
}
