"""Write the Pillow oracles for embedder/tests/preprocess.rs into fixtures/pillow/.

The reference preprocessing is `Image.open(p).convert("RGB").resize((256, 256), Image.BILINEAR)`.
For each case this records, in fixtures/pillow/manifest.tsv, FNV-1a 64 hashes of Pillow's decoded
RGB bytes and of its 256 x 256 resize, so the Rust test checks bit-exactness without storing
large arrays:

* `gen:KIND:W:H:SEED` sources are computed, not stored: `noise` (a 32-bit integer hash per
  sample, the hardest case for a resampler) and `scene` (gradients, checkerboard, a disc and mild
  noise). embedder/tests/preprocess.rs computes the same integers.
* `src/*` are small files written here by Pillow (PNG, TIFF, JPEG in the colour types the
  decoder must convert like `convert("RGB")`), plus a few hand-written ones Pillow cannot write
  (16-bit RGB / grey+alpha, 4-bit grey). Their Pillow-decoded RGB is stored as `*.rgb.png` so a
  JPEG decoder that is not bit-identical to libjpeg-turbo can still be measured.
* `corpus:images/NAME` are the images of fixtures/corpus (when it exists): hashes, and Pillow's
  pixels of the first JPEG. Rerun this script whenever the corpus is regenerated.

Deterministic; run in the .venv whenever Pillow or the corpus changes:

    .venv/bin/python scripts/make_pillow_fixtures.py
"""
import io
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image, features

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "fixtures")
OUT = os.path.join(FIX, "pillow")
SRC = os.path.join(OUT, "src")
SIZE = 256
M32 = np.uint64(0xFFFFFFFF)


def fnv64(data: bytes) -> str:
    """FNV-1a 64 of `data` (vectorised over 8 interleaved lanes would change it: keep it plain)."""
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def mix(x, y, c, seed):
    """32-bit integer hash of (x, y, c, seed); mirrored by `mix` in preprocess.rs."""
    h = (x * np.uint64(0x9E3779B1) + y * np.uint64(0x85EBCA77) + c * np.uint64(0xC2B2AE3D)
         + np.uint64(seed) * np.uint64(0x27D4EB2F)) & M32
    h ^= h >> np.uint64(15)
    h = (h * np.uint64(0x2C1B3C6D)) & M32
    h ^= h >> np.uint64(12)
    h = (h * np.uint64(0x297A2D39)) & M32
    h ^= h >> np.uint64(15)
    return h


def gen(kind, w, h, seed):
    """H x W x 3 uint8; mirrored by `generate` in preprocess.rs."""
    y, x, c = np.meshgrid(np.arange(h, dtype=np.uint64), np.arange(w, dtype=np.uint64),
                          np.arange(3, dtype=np.uint64), indexing="ij")
    hv = mix(x, y, c, seed)
    if kind == "noise":
        return (hv >> np.uint64(24)).astype(np.uint8)
    assert kind == "scene"
    xi, yi = x[..., 0].astype(np.int64), y[..., 0].astype(np.int64)
    base = np.empty((h, w, 3), np.int64)
    base[..., 0] = xi * 255 // max(w - 1, 1)
    base[..., 1] = yi * 255 // max(h - 1, 1)
    base[..., 2] = (((xi >> 3) ^ (yi >> 3)) & 1) * 150 + (xi * 7 + yi * 13) % 101
    cx, cy, r = w // 3, h // 2, min(w, h) // 4
    disc = (xi - cx) ** 2 + (yi - cy) ** 2 < r * r
    base[disc] = (40, 140, 60)
    noise = (hv >> np.uint64(28)).astype(np.int64) - 8
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def png_raw(w, h, depth, color_type, rows_be: bytes) -> bytes:
    """A minimal PNG (filter 0 everywhere) for sample formats Pillow cannot write."""
    stride = len(rows_be) // h
    raw = b"".join(b"\x00" + rows_be[i * stride:(i + 1) * stride] for i in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b""))


def tiff_raw(arr: np.ndarray) -> bytes:
    """A minimal little-endian, uncompressed, single-strip TIFF of an H x W x S uint16 array."""
    h, w, s = arr.shape
    data = arr.astype("<u2").tobytes()
    entries = []  # (tag, type, count, value or bytes)
    bps = struct.pack("<" + "H" * s, *([16] * s))
    entries.append((256, 3, 1, w))
    entries.append((257, 3, 1, h))
    entries.append((258, 3, s, bps if s > 2 else bps.ljust(4, b"\x00")))
    entries.append((259, 3, 1, 1))
    entries.append((262, 3, 1, 2 if s >= 3 else 1))
    entries.append((273, 4, 1, None))  # strip offset, patched below
    entries.append((277, 3, 1, s))
    entries.append((278, 3, 1, h))
    entries.append((279, 4, 1, len(data)))
    if s in (2, 4):
        entries.append((338, 3, 1, 2))  # ExtraSamples: unassociated alpha
    n = len(entries)
    ifd_size = 2 + 12 * n + 4
    extra_off = 8 + ifd_size
    extra = b""
    data_off = extra_off + (len(bps) if s > 2 else 0)
    out = b""
    for tag, typ, count, val in entries:
        if tag == 273:
            val = data_off
        if isinstance(val, bytes) and len(val) <= 4:
            out += struct.pack("<HHI", tag, typ, count) + val
        elif isinstance(val, bytes):
            out += struct.pack("<HHII", tag, typ, count, extra_off + len(extra))
            extra += val
        elif typ == 3:
            out += struct.pack("<HHIHH", tag, typ, count, val, 0)
        else:
            out += struct.pack("<HHII", tag, typ, count, val)
    return b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", n) + out + b"\x00\x00\x00\x00" + extra + data


def write_sources():
    """Small decode fixtures; returns [(name, filename, is_jpeg)]."""
    os.makedirs(SRC, exist_ok=True)
    s = Image.fromarray(gen("scene", 64, 48, 1))
    grey = s.convert("L")
    alpha = Image.fromarray(gen("noise", 64, 48, 9)[..., 0])
    rgba = s.copy()
    rgba.putalpha(alpha)
    la = grey.copy()
    la.putalpha(alpha)
    pal = s.quantize(64)
    pal_trns = pal.copy()
    pal_trns.info["transparency"] = 0
    # 16-bit samples (32 x 24: incompressible noise). Grey with values on both sides of 255:
    # Pillow's I;16 -> RGB clips at 255.
    wide16 = (gen("noise", 32, 24, 3).astype(np.uint16) << 8 | gen("noise", 32, 24, 4)).astype(np.uint16)
    l16 = wide16[..., 0] >> np.uint16(np.arange(24)[:, None] % 12)
    items = []

    def save(name, im, **kw):
        path = os.path.join(SRC, name)
        im.save(path, **kw)
        items.append((name[: name.rindex(".")], name, name.endswith(".jpg")))

    def raw(name, data):
        with open(os.path.join(SRC, name), "wb") as f:
            f.write(data)
        items.append((name[: name.rindex(".")], name, False))

    save("png_rgb.png", s)
    save("png_rgba.png", rgba)
    save("png_la.png", la)
    save("png_l.png", grey)
    save("png_p.png", pal)
    save("png_p_trns.png", pal_trns, transparency=0)
    save("png_1bit.png", grey.convert("1"))
    save("png_l16.png", Image.fromarray(l16))
    raw("png_rgb16.png", png_raw(32, 24, 16, 2, wide16.astype(">u2").tobytes()))
    raw("png_la16.png", png_raw(32, 24, 16, 4, wide16[..., :2].astype(">u2").tobytes()))
    l4 = (np.asarray(grey) >> 4).astype(np.uint8)
    raw("png_l4.png", png_raw(64, 48, 4, 0, np.packbits(np.unpackbits(l4[..., None], axis=-1)[..., 4:].reshape(48, -1), axis=-1).tobytes()))
    save("tif_rgb.tif", s)
    save("tif_rgb_lzw.tif", s, compression="tiff_lzw")
    save("tif_rgb_deflate.tif", s, compression="tiff_adobe_deflate")
    save("tif_rgba.tif", rgba)
    save("tif_l.tif", grey)
    save("tif_p.tif", pal)
    save("tif_p_lzw.tif", pal, compression="tiff_lzw")
    inks = np.dstack([np.asarray(s), gen("noise", 64, 48, 11)[..., :1]])
    save("tif_cmyk.tif", Image.frombytes("CMYK", (64, 48), inks.tobytes()))
    save("tif_l16.tif", Image.fromarray(l16))
    raw("tif_rgb16.tif", tiff_raw(wide16))
    j = Image.fromarray(gen("scene", 72, 52, 2))  # not a multiple of the 16 x 16 MCU
    for q in (75, 95):
        for sub, tag in ((2, "420"), (0, "444")):
            save(f"jpg_q{q}_{tag}.jpg", j, quality=q, subsampling=sub)
    save("jpg_grey.jpg", j.convert("L"), quality=90)
    save("jpg_progressive.jpg", j, quality=90, progressive=True)
    save("jpg_cmyk.jpg", j.convert("CMYK"), quality=90)
    save("jpg_noise_q95_444.jpg", Image.fromarray(gen("noise", 40, 24, 5)), quality=95, subsampling=0)
    return items


def rgb(im: Image.Image) -> np.ndarray:
    return np.asarray(im.convert("RGB"))


def resized(a: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(a).resize((SIZE, SIZE), Image.BILINEAR))


def main():
    os.makedirs(OUT, exist_ok=True)
    for d in (SRC, OUT):
        for f in os.listdir(d) if os.path.isdir(d) else []:
            if f.endswith((".png", ".jpg", ".tif", ".tsv")):
                os.remove(os.path.join(d, f))
    rows = []

    def case(name, source, kind, dec, dec_png="-"):
        res = resized(dec)
        if dec.shape[:2] == (SIZE, SIZE):
            assert np.array_equal(res, dec), "Pillow's same-size resize must be an unchanged copy"
        rows.append((name, source, kind, dec.shape[1], dec.shape[0], fnv64(dec.tobytes()),
                     fnv64(res.tobytes()), dec_png))

    # Resize exactness on computed sources.
    for kind in ("noise", "scene"):
        for w, h in ((224, 224), (256, 256), (300, 180), (1000, 1000), (37, 1200), (256, 180),
                     (180, 256), (1, 1), (2, 3), (4000, 9)):
            seed = w * 7 + h
            case(f"{kind}_{w}x{h}", f"gen:{kind}:{w}:{h}:{seed}", "exact", gen(kind, w, h, seed))

    # Decoding + conversion to RGB.
    # Lossless formats must decode exactly: hashes only. JPEG: Pillow's pixels too, to measure a
    # decoder that is not libjpeg-turbo.
    for name, fname, is_jpeg in write_sources():
        dec = rgb(Image.open(os.path.join(SRC, fname)))
        png = "-"
        if is_jpeg:
            png = f"src/{name}.rgb.png"
            Image.fromarray(dec).save(os.path.join(OUT, png), optimize=True)
        case(name, f"src/{fname}", "jpeg" if is_jpeg else "exact", dec, png)

    # The project's corpus, when present: every image (hashes are cheap), plus Pillow's pixels
    # of the first JPEG so a non-libjpeg-turbo decoder can be measured on it.
    corpus = os.path.join(FIX, "corpus", "images")
    if os.path.isdir(corpus):
        pixels_for = None
        for f in sorted(os.listdir(corpus)):
            stem, ext = os.path.splitext(f)
            if ext.lower() not in (".jpg", ".jpeg", ".png", ".tif", ".tiff"):
                continue
            is_jpeg = ext.lower() in (".jpg", ".jpeg")
            dec = rgb(Image.open(os.path.join(corpus, f)))
            png = "-"
            if is_jpeg and pixels_for is None:
                pixels_for = f
                png = f"corpus_{stem}.rgb.png"
                Image.fromarray(dec).save(os.path.join(OUT, png), optimize=True)
            case(f"corpus_{stem}", f"corpus:images/{f}", "jpeg" if is_jpeg else "exact", dec, png)
    else:
        print("note: fixtures/corpus/images missing; corpus cases skipped", file=sys.stderr)

    with open(os.path.join(OUT, "manifest.tsv"), "w") as f:
        f.write(f"# Pillow {Image.__version__}, libjpeg-turbo {features.version('libjpeg_turbo')}, "
                f"zlib {features.version('zlib')}; written by scripts/make_pillow_fixtures.py\n")
        f.write("# name\tsource\tkind\twidth\theight\tdecoded_fnv64\tresized256_fnv64\tdecoded_png\n")
        for r in rows:
            f.write("\t".join(map(str, r)) + "\n")
    total = sum(os.path.getsize(os.path.join(d, x)) for d, _, fs in os.walk(OUT) for x in fs)
    print(f"wrote {len(rows)} cases to {OUT} ({total / 1024:.0f} kB)")


if __name__ == "__main__":
    main()
