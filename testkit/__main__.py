"""``python -m testkit``: build the PKI, the sample set and the composition samples (generated or edited), read
each sample with c2pa, print a table.

Exits 1 when a sample's provenance is not the one the catalogue expects (a c2pa upgrade changed a verdict).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import c2pa

from testkit.catalogue import build_composition_samples, build_samples
from testkit.pki import make_test_pki
from testkit.signing import actions_of


def _observe(context: Any, data: bytes) -> tuple[str, list[str], list[str], list[str]]:
    """(provenance, active source types, ingredient source types, failure codes) as c2pa sees ``data``."""
    try:
        with c2pa.Reader(None, io.BytesIO(data), None, context) as reader:
            document = json.loads(reader.json())
            state = reader.get_validation_state()
    except c2pa.C2paError.ManifestNotFound:
        return "absent", [], [], []
    except c2pa.C2paError as exc:
        return "unreadable", [], [], [str(exc).splitlines()[0][:60]]
    active_label = document.get("active_manifest")
    active: list[str] = []
    others: list[str] = []
    for label, manifest in document.get("manifests", {}).items():
        for action in actions_of(manifest):
            source_type = action.get("digitalSourceType")
            if source_type:
                short = str(source_type).rsplit("/", 1)[-1]
                (active if label == active_label else others).append(short)
    results = document.get("validation_results") or {}
    failures = [f["code"] for f in results.get("activeManifest", {}).get("failure", [])]
    return str(state).lower(), active, others, failures


def _main() -> int:
    import tempfile
    import time

    started = time.perf_counter()
    pki = make_test_pki()
    samples = build_samples(pki) + build_composition_samples(pki)
    elapsed = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        files = pki.write(Path(tmp))
        paths = (files.anchors, files.allowed, files.config)
        written = ", ".join(f"{path.name} ({path.stat().st_size} B)" for path in paths if path)
    print(f"PKI + {len(samples)} samples built in {elapsed:.2f}s; trust files: {written}")
    row = "{:<37} {:>6}  {:<11}{:<25}{:<64}{}"
    columns = ("name", "bytes", "c2pa", "expected", "source types (active | ingredients)", "failures")
    header = row.format(*columns)
    print(header)
    print("-" * len(header))
    mismatches = 0
    with c2pa.Context.from_dict(pki.c2pa_settings()) as context:
        for sample in samples:
            provenance, active, others, failures = _observe(context, sample.data)
            ok = provenance == sample.expect_provenance
            mismatches += not ok
            expected = f"{sample.expect_label}/{sample.expect_provenance}" + ("" if ok else " MISMATCH")
            types = f"{','.join(active) or '-'} | {','.join(others) or '-'}"
            failed = ",".join(failures) or "-"
            print(row.format(sample.name, len(sample.data), provenance, expected, types, failed))
    return 1 if mismatches else 0


if __name__ == "__main__":
    raise SystemExit(_main())
