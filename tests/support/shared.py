"""``../shared`` beside the repository: the third-party corpus, trust lists and notification payloads.

A developer's machine may lack it, and then the tests that read it skip with the reason. CI always has it
(``CI=true``): there a missing folder fails the run at collection instead of skipping quietly.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2].parent / "shared"


def needs_shared(path: Path) -> pytest.MarkDecorator:
    """A skip mark for a test that reads ``path`` under ``../shared``; in CI a missing path is an error."""
    missing = not path.exists()
    if missing and os.environ.get("CI") == "true":
        raise RuntimeError(f"{path} is missing: CI must run with ../shared beside the repository")
    return pytest.mark.skipif(missing, reason=f"{path.relative_to(SHARED.parent)} is not beside the repo")
