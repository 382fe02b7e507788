import CLISupport
import Testing

@Suite struct AllocatorSettingsTests {
    /// The settings reach glibc's allocator (a header that tested for glibc before including anything of it once
    /// compiled them out without a word).
    @Test func glibcTakesTheThresholds() {
        #if canImport(Glibc)
        #expect(AllocatorSettings.apply())
        #endif
    }
}
