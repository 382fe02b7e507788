import ArgumentParser
import Foundation

/// A size given on the command line: a number and a unit (B, K, M, G; powers of 1024), e.g. `512M` or `1.5G`.
///
/// A bare number is refused rather than read as bytes: `--max-memory 512` almost always means 512 MiB, and reading
/// it as 512 bytes gave a plan that "allows 0.0 MiB".
public struct ByteSize: Sendable, Equatable, CustomStringConvertible {
    public let bytes: Int

    public init(bytes: Int) { self.bytes = bytes }

    /// Why a size could not be read, in words for the user.
    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// Parses "512M", "1.5G", "300MiB", "2GB", "64K" or "4096B" (K, M, G, KB, MB, GB, KiB, MiB, GiB are all powers of 1024).
    public init(parsing text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let upper = trimmed.uppercased()
        let gib = 1_073_741_824.0, mib = 1_048_576.0, kib = 1024.0
        let units: [(String, Double)] = [("GIB", gib), ("MIB", mib), ("KIB", kib), ("GB", gib), ("MB", mib),
                                         ("KB", kib), ("G", gib), ("M", mib), ("K", kib), ("B", 1)]
        guard let (suffix, factor) = units.first(where: { upper.hasSuffix($0.0) }) else {
            if Double(trimmed) != nil {
                throw Invalid(description: "\(trimmed) has no unit; write \(trimmed)M for MiB, \(trimmed)G for GiB, \(trimmed)K for KiB or \(trimmed)B for bytes")
            }
            throw Invalid(description: "\(trimmed) is not a size (e.g. 512M, 1.5G)")
        }
        guard let number = Double(upper.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)), number.isFinite else {
            throw Invalid(description: "\(trimmed) is not a size (e.g. 512M, 1.5G)")
        }
        guard number > 0 else { throw Invalid(description: "\(trimmed) must be more than zero") }
        guard number * factor < 4.0e18 else { throw Invalid(description: "\(trimmed) is too large") }
        bytes = Int(number * factor)
    }

    /// The size in MiB with one decimal, as the memory plan prints sizes.
    public var description: String { String(format: "%.1f MiB", Double(bytes) / 1_048_576) }
}

extension ByteSize: ExpressibleByArgument {
    /// ArgumentParser's entry point; `@Option(transform: { try ByteSize(parsing: $0) })` is preferred, so the
    /// reason a value was refused reaches the message.
    public init?(argument: String) { try? self.init(parsing: argument) }
}
