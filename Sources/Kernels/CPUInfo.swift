import Foundation

/// Facts about this machine's processors that decide how many threads to use.
public enum CPUInfo {
    /// Physical cores (hyper-threads of one core counted once), from Linux sysfs; falls back to the logical count.
    public static let physicalCoreCount: Int = {
        let logical = ProcessInfo.processInfo.activeProcessorCount
        var cores = Set<String>()
        for cpu in 0..<logical {
            let base = "/sys/devices/system/cpu/cpu\(cpu)/topology/"
            guard let core = try? String(contentsOfFile: base + "core_id", encoding: .utf8),
                  let package = try? String(contentsOfFile: base + "physical_package_id", encoding: .utf8) else { return logical }
            cores.insert(package.trimmingCharacters(in: .whitespacesAndNewlines) + ":" + core.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return max(1, min(cores.count, logical))
    }()
}
