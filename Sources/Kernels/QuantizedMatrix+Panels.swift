import Foundation
import WeightFormat

/// The panel layout of the integer kernels (`PanelLayout`, formats/GQZ.md §5): 16 rows side by side, so one 64-byte
/// load holds four columns of all 16 rows and one `gpt2edge_dot_u8s8` multiplies them with four activation bytes.
/// Rows after the last whole panel stay row-major and take the float path.
extension QuantizedMatrix {
    /// Rows per panel: one Int32 lane each in a 64-byte vector.
    static let panelHeight = PanelLayout.height

    /// Bytes of one group of one panel.
    var panelGroupBytes: Int { Self.panelHeight * groupSize * bits.rawValue / 8 }

    /// How much a stored unsigned value exceeds the signed one: 128 for int8 (after packing), 8 for int4.
    var storedOffset: Int32 { bits == .eight ? 128 : 8 }

    /// Rearranges every whole 16-row panel in place for the integer kernels (`MatrixKernel.integer`): one pass
    /// over the weights, panels split across the cores; a second call does nothing.
    public func packForIntegerDot() {
        guard packedRows == 0 else { return }
        PanelLayout.pack(UnsafeMutableRawBufferPointer(start: storage, count: byteCount), rows: rows, columns: columns, scheme: scheme,
                         workers: ProcessInfo.processInfo.activeProcessorCount)
        packedRows = PanelLayout.packedRows(rows)
    }

    /// Lets `fill` write a payload already in the panel layout (a `.gqz` entry stored so): no packing pass.
    public func overwritePacked(_ fill: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows {
        packedRows = 0
        try fill(UnsafeMutableRawBufferPointer(start: storage, count: byteCount))
        packedRows = PanelLayout.packedRows(rows)
    }

    /// Value j of group `group` of a packed row, as a signed integer.
    func packedQuant(row: Int, group: Int, index j: Int) -> Int {
        let height = Self.panelHeight
        let panel = quants + (row / height) * height * rowBytes + group * panelGroupBytes + 4 * (row % height)
        switch bits {
        case .eight:
            return Int(panel[(j / 4) * 64 + j % 4]) - 128
        case .four:
            let byte = panel[(j / 8) * 64 + j % 4]
            return Int(j % 8 < 4 ? byte & 0x0F : byte >> 4) - 8
        }
    }

    /// Index in `scales` of a packed row's group scale.
    func packedScaleIndex(row: Int, group: Int) -> Int {
        let height = Self.panelHeight
        return (row / height) * height * groupsPerRow + group * height + row % height
    }
}
