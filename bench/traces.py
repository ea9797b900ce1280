"""``python -m bench.traces``: the CPU the generator-trace read adds to a small image without credentials.

For each file: CPU per ``read_raw`` (the reader child's whole read: c2pa, then the unsigned metadata), per
metadata read as it is now (``_unsigned_metadata``: XMP source types + PNG text, EXIF, XMP fields) and per
metadata read as it was before generator traces (XMP source types only), in one process, best of 5 rounds.
The added CPU is the difference of the last two; docs/performance.md sets it against the worker's measured CPU
per small object.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from pipeline.adapters.credentials.reader import C2paCredentialReader, _unsigned_metadata
from pipeline.credentials.xmp import xmp_source_types
from testkit.media import _image
from testkit.pki import make_test_pki
from testkit.traces import _TXT2IMG, exif_bytes


def _xmp_only(path: Path) -> list[str]:
    """The unsigned read before generator traces: one Pillow open, the XMP packet's DigitalSourceType."""
    with Image.open(path) as image:
        return xmp_source_types(image.getxmp())


def _files(root: Path) -> dict[str, Path]:
    """Small unsigned images of the benchmark's small class (noise pixels: 50-500 KB)."""
    big = _image(320, 240, 1)
    made: dict[str, bytes] = {}
    for name, fmt, extra in (
        ("camera.jpg", "JPEG", {"exif": exif_bytes(None, Make="Canon", Model="Canon EOS R5", Software="1.8.1")}),
        ("a1111.jpg", "JPEG", {"exif": exif_bytes(_TXT2IMG)}),
        ("plain.png", "PNG", {}),
    ):
        buffer = io.BytesIO()
        big.save(buffer, fmt, **({"quality": 95} if fmt == "JPEG" else {}), **extra)
        made[name] = buffer.getvalue()
    chunks = PngInfo()
    chunks.add_text("parameters", _TXT2IMG)
    buffer = io.BytesIO()
    big.save(buffer, "PNG", pnginfo=chunks)
    made["a1111.png"] = buffer.getvalue()
    paths = {}
    for name, data in made.items():
        paths[name] = root / name
        paths[name].write_bytes(data)
    return paths


def _cpu_ms(call: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        for _ in range(repeat):
            call()
        best = min(best, (time.process_time() - start) / repeat * 1000)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.traces", description=__doc__)
    parser.add_argument("--repeat", type=int, default=200, help="reads per round (default 200)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        reader = C2paCredentialReader(make_test_pki().write(root / "trust"))
        rows = []
        for name, path in _files(root).items():
            rows.append(
                {
                    "file": name,
                    "bytes": path.stat().st_size,
                    "read_raw_ms": round(_cpu_ms(lambda p=path: reader.read_raw(p), args.repeat), 3),
                    "metadata_ms": round(_cpu_ms(lambda p=path: _unsigned_metadata(p), args.repeat), 3),
                    "xmp_only_ms": round(_cpu_ms(lambda p=path: _xmp_only(p), args.repeat), 3),
                }
            )
    for row in rows:
        row["added_ms"] = round(row["metadata_ms"] - row["xmp_only_ms"], 3)
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        print()
    else:
        print(f"{'file':<12} {'bytes':>8} {'read_raw':>9} {'metadata':>9} {'xmp only':>9} {'added':>7}  (CPU ms)")
        for r in rows:
            print(
                f"{r['file']:<12} {r['bytes']:>8} {r['read_raw_ms']:>9} {r['metadata_ms']:>9} {r['xmp_only_ms']:>9} "
                f"{r['added_ms']:>7}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
