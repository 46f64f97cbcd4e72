"""OpenEXR files written and read from the file layout (OpenEXR's "technical introduction"),
not through the library Vonnx uses, for tests and benchmarks: single-part scanline files
without compression, half or float channels."""
import struct
import numpy as np


def exr_write(path, channels, kind, origin=(0, 0), display=None):
    """channels: {name: HxW array} -> an uncompressed single-part scanline EXR, written from
    the OpenEXR file layout (not through the library under test): kind "half", "float" or "uint" samples,
    data window at `origin`, display window `display` (x0, y0, x1, y1; default the data window)."""
    names = sorted(channels)
    h, w = channels[names[0]].shape
    x0, y0 = origin
    box = struct.pack("<4i", x0, y0, x0 + w - 1, y0 + h - 1)
    attr = lambda name, kind, value: name.encode() + b"\0" + kind.encode() + b"\0" + struct.pack("<i", len(value)) + value
    chlist = b"".join(n.encode() + b"\0" + struct.pack("<iB3xii", {"uint": 0, "half": 1, "float": 2}[kind], 0, 1, 1) for n in names) + b"\0"
    header = (b"\x76\x2f\x31\x01" + struct.pack("<i", 2) + attr("channels", "chlist", chlist)
              + attr("compression", "compression", b"\0") + attr("dataWindow", "box2i", box)
              + attr("displayWindow", "box2i", struct.pack("<4i", *display) if display else box)
              + attr("lineOrder", "lineOrder", b"\0") + attr("pixelAspectRatio", "float", struct.pack("<f", 1))
              + attr("screenWindowCenter", "v2f", struct.pack("<2f", 0, 0)) + attr("screenWindowWidth", "float", struct.pack("<f", 1))
              + attr("owner", "string", b"vonnx tests") + b"\0")
    dtype = {"uint": "<u4", "half": "<f2", "float": "<f4"}[kind]
    chunks, offset = [], len(header) + 8 * h
    offsets = []
    for y in range(h):
        data = b"".join(channels[n][y].astype(dtype).tobytes() for n in names)
        chunk = struct.pack("<ii", y0 + y, len(data)) + data
        offsets.append(offset); offset += len(chunk); chunks.append(chunk)
    with open(path, "wb") as f:
        f.write(header + struct.pack(f"<{h}Q", *offsets) + b"".join(chunks))


def exr_read(path):
    """An uncompressed scanline EXR -> ({channel: HxW float32}, {attribute: raw bytes}, {channel: pixel type})."""
    d = open(path, "rb").read()
    p, attrs = 8, {}
    while d[p]:
        n = d.index(b"\0", p); t = d.index(b"\0", n + 1); size, = struct.unpack_from("<i", d, t + 1)
        attrs[d[p:n].decode()] = d[t + 5:t + 5 + size]; p = t + 5 + size
    ch, q, chans = attrs["channels"], 0, []
    while ch[q]:
        n = ch.index(b"\0", q); chans.append((ch[q:n].decode(), struct.unpack_from("<i", ch, n + 1)[0])); q = n + 17
    x0, y0, x1, y1 = struct.unpack("<4i", attrs["dataWindow"]); w, h = x1 - x0 + 1, y1 - y0 + 1
    assert attrs["compression"] == b"\0", f"{path}: compressed"
    out = {c: np.zeros((h, w), np.float32) for c, _ in chans}
    for o in struct.unpack_from(f"<{h}Q", d, p + 1):
        y, _ = struct.unpack_from("<ii", d, o); q = o + 8
        for c, kind in chans:
            dt = np.dtype({0: "<u4", 1: "<f2", 2: "<f4"}[kind]); out[c][y - y0] = np.frombuffer(d[q:q + w * dt.itemsize], dt); q += w * dt.itemsize
    return out, attrs, dict(chans)
