"""The third-party corpus in ../shared/corpus: `../shared/bin/conformance` must report no failure.

It runs `media-ingest inspect --json` over every file with the CAI trust list loaded and checks each record: AI-
positive files get an AI label, files without credentials `unknown`/`absent`, provenance equals c2pa's state.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.support.shared import SHARED, needs_shared

pytestmark = [pytest.mark.conformance, needs_shared(SHARED / "bin" / "conformance")]


def test_conformance_corpus_passes():
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(
        [sys.executable, str(SHARED / "bin" / "conformance")],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        cwd=ROOT,
    )
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert summary.endswith(" 0 failed") and not summary.startswith("0 passed"), summary
