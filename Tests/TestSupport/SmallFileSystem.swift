import Foundation

/// A tmpfs of a few hundred kilobytes mounted on a fresh temporary folder, to make writes fail with ENOSPC
/// ("No space left on device") the way a full SD card does. Mounting needs root (or CAP_SYS_ADMIN); where it is
/// not allowed `isAvailable` is false and the tests that need one are skipped.
public final class SmallFileSystem {
    /// The mounted folder, empty at first.
    public let folder: URL

    /// Mounts a tmpfs of `bytes` (rounded up to whole pages by the kernel); nil when mounting is not allowed here.
    public init?(bytes: Int) {
        #if os(Linux)
        guard let folder = try? Fixtures.temporaryDirectory("small-fs") else { return nil }
        guard mount("tmpfs", folder.path, "tmpfs", 0, "size=\(bytes)") == 0 else {
            try? FileManager.default.removeItem(at: folder)
            return nil
        }
        self.folder = folder
        #else
        return nil   // tmpfs with a size is Linux's
        #endif
    }

    /// Whether this machine lets the tests mount a tmpfs (tried once).
    public static let isAvailable: Bool = SmallFileSystem(bytes: 64 * 1024) != nil

    deinit {
        #if os(Linux)
        umount2(folder.path, Int32(MNT_DETACH))
        #endif
        try? FileManager.default.removeItem(at: folder)
    }
}
