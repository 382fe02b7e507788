#!/usr/bin/env python3
"""An independent reader of .gqz files, written from formats/GQZ.md alone (no shared code with the Swift one).

    python tools/formats/gqz-read.py FILE                # list the index
    python tools/formats/gqz-read.py FILE --dump NAME    # print one tensor's values
    python tools/formats/gqz-read.py formats/example.gqz --check formats/example.json
                                                 # decode every entry and compare with the expected values

Needs the `zstandard` package (pip install zstandard) or, failing that, the `zstd` command.
"""
import argparse
import json
import struct
import subprocess
import sys
import zlib

MAGIC = b"GQZ\x00\r\n\x1a\n"
SUPPORTED_VERSION = 2   # version 2: entries may be stored in row frames (GQZ.md §4)
MAX_INDEX = 64 << 20


class FormatError(Exception):
    pass


# task_heads: a model without a language-model head (formats/GQZ.md §4); this reader only lists and dumps tensors.
KNOWN_FEATURES = {"task_heads"}


def zstd_decompress(frame, size):
    if frame[:4] != b"\x28\xb5\x2f\xfd":
        raise FormatError("not a zstd frame")
    if not frame[4] & 0x04:
        raise FormatError("zstd frame has no content checksum (GQZ.md §3)")
    try:
        import zstandard
        data = zstandard.ZstdDecompressor().decompress(frame, max_output_size=size)
    except ImportError:
        data = subprocess.run(["zstd", "-d", "-c", "-q"], input=frame, capture_output=True, check=True).stdout
    if len(data) != size:
        raise FormatError(f"frame holds {len(data)} bytes, expected {size}")
    return data


def payload_size(scheme, shape, group_size):
    """Bytes the scheme needs for the shape (GQZ.md §5)."""
    rows, columns = (shape[0], shape[1]) if len(shape) == 2 else (1, shape[0])
    if scheme == "bytes":
        return shape[0]
    if scheme == "f32":
        return 4 * rows * columns
    if scheme in ("q8", "q4") and group_size in (32, 64, 128):
        groups = -(-columns // group_size)
        per_row = groups * group_size if scheme == "q8" else groups * group_size // 2
        return rows * groups * 2 + rows * per_row
    raise FormatError(f"unknown scheme {scheme} / group size {group_size}")


def row_bytes(e):
    """Bytes of one row's quants (or floats) in an entry's payload (GQZ.md §5)."""
    columns, scheme, group = e["shape"][-1], e["scheme"], e.get("group_size")
    if scheme == "f32":
        return 4 * columns
    groups = -(-columns // group)
    return groups * group if scheme == "q8" else groups * group // 2


def unpack_panels(raw, e):
    """A panels16 payload back in the row-major layout of §5: each whole panel of 16 rows holds, per group, the 16 rows'
    scales side by side, and its quants unit by unit (4 columns of int8, 8 of int4), 4 bytes per row in row order; an
    int8 byte is q + 128, an int4 unit byte k holds column k of the unit (low nibble) and column 4 + k (high nibble)."""
    rows, columns = e["shape"]
    group = e["group_size"]
    groups = -(-columns // group)
    rb = row_bytes(e)
    scale_bytes = rows * groups * 2
    out = bytearray(raw)
    for p in range(rows // 16):
        base = p * 16 * groups * 2
        for g in range(groups):
            for r in range(16):
                src, dst = base + 2 * (g * 16 + r), base + 2 * (r * groups + g)
                out[dst:dst + 2] = raw[src:src + 2]
        qbase = scale_bytes + p * 16 * rb
        for n in range(rb // 4):
            for r in range(16):
                word = raw[qbase + 64 * n + 4 * r: qbase + 64 * n + 4 * r + 4]
                row = qbase + r * rb
                if e["scheme"] == "q8":
                    out[row + 4 * n: row + 4 * n + 4] = bytes(b ^ 0x80 for b in word)
                    continue
                half, per_group = group // 2, group // 8
                g, column = n // per_group, 8 * (n % per_group)
                for k in range(4):
                    for c, v in ((column + k, word[k] & 0x0F), (column + 4 + k, word[k] >> 4)):
                        i = row + g * half + c % half
                        out[i] = (out[i] & 0xF0) | v if c < half else (out[i] & 0x0F) | (v << 4)
    return bytes(out)


def check_frames(e, version):
    """A row-framed entry (GQZ.md §4, version 2): frame_rows, one frame per run of rows, frames filling stored_bytes."""
    name = e["name"]
    if version < 2:
        raise FormatError(f"{name}: row frames need version 2")
    if e["scheme"] not in ("f32", "q8", "q4") or len(e["shape"]) != 2:
        raise FormatError(f"{name}: only a two-dimensional f32, q8 or q4 tensor has row frames")
    rows, step = e["shape"][0], e.get("frame_rows")
    if not isinstance(step, int) or step < 1:
        raise FormatError(f"{name}: frame_rows must be a positive integer")
    frames = e.get("frames")
    if not isinstance(frames, list) or len(frames) != -(-rows // step):
        raise FormatError(f"{name}: frames must list one frame per {step} rows")
    if any(f.get("stored_bytes", 0) <= 0 for f in frames) or sum(f["stored_bytes"] for f in frames) != e["stored_bytes"]:
        raise FormatError(f"{name}: the frames do not fill stored_bytes")


class GQZ:
    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            self.data = f.read()
        d = self.data
        if len(d) < 40 or d[:8] != MAGIC:
            raise FormatError("not a .gqz file")
        version, _reserved, index_offset, index_stored, index_raw = struct.unpack_from("<IIQQQ", d, 8)
        if not 1 <= version <= SUPPORTED_VERSION:
            raise FormatError(f"version {version} not supported")
        if index_offset < 40 or index_stored == 0 or index_offset + index_stored > len(d):
            raise FormatError("index outside the file")
        if index_stored > MAX_INDEX or index_raw > MAX_INDEX:
            raise FormatError("index too large")
        self.index = json.loads(zstd_decompress(d[index_offset:index_offset + index_stored], index_raw))
        if self.index.get("format") != "gqz" or self.index.get("version") != version:
            raise FormatError("index format/version mismatch")
        unknown = [f for f in self.index.get("required_features", []) if f not in KNOWN_FEATURES]
        if unknown:
            raise FormatError(f"unknown required features {unknown}")
        self.entries = {}
        spans = []
        for e in self.index["tensors"]:
            name = e["name"]
            if name in self.entries:
                raise FormatError(f"duplicate tensor {name}")
            if not (40 <= e["offset"] and e["stored_bytes"] > 0 and e["offset"] + e["stored_bytes"] <= index_offset):
                raise FormatError(f"{name}: frame outside the payload area")
            if e["raw_bytes"] != payload_size(e["scheme"], e["shape"], e.get("group_size")):
                raise FormatError(f"{name}: raw_bytes does not match scheme and shape")
            if "frame_rows" in e or "frames" in e:
                check_frames(e, version)
            if e.get("layout", "rows") != "rows":
                if e["layout"] != "panels16" or version < 2 or e["scheme"] not in ("q8", "q4") or len(e["shape"]) != 2:
                    raise FormatError(f"{name}: layout {e['layout']} is not a version-2 panels16 q8/q4 matrix")
                if e.get("frame_rows", 16) % 16:
                    raise FormatError(f"{name}: a panels16 entry's frame_rows must be a multiple of 16")
            spans.append((e["offset"], e["offset"] + e["stored_bytes"], name))
            self.entries[name] = e
        spans.sort()
        for (_, end, a), (start, _, b) in zip(spans, spans[1:]):
            if start < end:
                raise FormatError(f"{a} and {b} overlap")

    def payload(self, name):
        e = self.entries[name]
        if "frame_rows" in e:
            raw = self.framed_payload(e)
        else:
            raw = zstd_decompress(self.data[e["offset"]:e["offset"] + e["stored_bytes"]], e["raw_bytes"])
        if zlib.crc32(raw) != e["crc32"]:
            raise FormatError(f"{name}: CRC-32 mismatch")
        if e.get("layout", "rows") == "panels16":
            raw = unpack_panels(raw, e)
        return raw

    def framed_payload(self, e):
        """A row-framed entry's payload in the layout of §5: each frame holds its rows' scales, then their quants."""
        rows, columns = e["shape"]
        total_scales = payload_size(e["scheme"], e["shape"], e.get("group_size")) - rows * row_bytes(e)
        scales, quants = bytearray(), bytearray()
        offset = e["offset"]
        for k, frame in enumerate(e["frames"]):
            count = min(rows, (k + 1) * e["frame_rows"]) - k * e["frame_rows"]
            size = payload_size(e["scheme"], [count, columns], e.get("group_size"))
            part = zstd_decompress(self.data[offset:offset + frame["stored_bytes"]], size)
            if zlib.crc32(part) != frame["crc32"]:
                raise FormatError(f"{e['name']}: CRC-32 mismatch in frame {k}")
            split = size - count * row_bytes(e)
            scales += part[:split]
            quants += part[split:]
            offset += frame["stored_bytes"]
        assert len(scales) == total_scales
        return bytes(scales + quants)

    def values(self, name):
        """The tensor's values, row-major, as Python floats (bytes entries as a string)."""
        e = self.entries[name]
        raw = self.payload(name)
        scheme, shape, group = e["scheme"], e["shape"], e.get("group_size")
        if scheme == "bytes":
            return raw.decode("utf-8", "replace")
        rows, columns = (shape[0], shape[1]) if len(shape) == 2 else (1, shape[0])
        if scheme == "f32":
            return list(struct.unpack_from(f"<{rows * columns}f", raw))
        groups = -(-columns // group)
        scales = struct.unpack_from(f"<{rows * groups}e", raw)       # fp16, row by row
        base = 2 * rows * groups
        out = []
        for r in range(rows):
            if scheme == "q8":
                row = raw[base + r * groups * group: base + (r + 1) * groups * group]
                for c in range(columns):
                    q = struct.unpack_from("b", row, c)[0]
                    out.append(scales[r * groups + c // group] * q)
            else:
                half = group // 2
                row = raw[base + r * groups * half: base + (r + 1) * groups * half]
                for c in range(columns):
                    g, j = divmod(c, group)
                    byte = row[g * half + j % half]
                    q = byte & 0x0F if j < half else byte >> 4
                    out.append(scales[r * groups + g] * (q - 8))
        return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file")
    parser.add_argument("--dump")
    parser.add_argument("--check", help="JSON of expected values per tensor name")
    args = parser.parse_args()
    g = GQZ(args.file)
    if args.dump:
        print(json.dumps(g.values(args.dump)))
        return
    if args.check:
        expected = json.load(open(args.check))
        bad = [name for name in expected if g.values(name) != expected[name]]
        print(f"{args.file}: {len(expected) - len(bad)} of {len(expected)} entries decode to the expected values")
        sys.exit(1 if bad else 0)
    for name, e in g.entries.items():
        print(f"{name:32} {e['scheme']:5} {str(e.get('group_size') or ''):4} {str(e['shape']):16} {e['stored_bytes']:>10} {e['raw_bytes']:>10}")


if __name__ == "__main__":
    main()
