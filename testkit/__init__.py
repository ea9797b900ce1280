"""Test and demo tooling: a test PKI, synthetic media, C2PA signing and the standard sample catalogue.

Not part of the library: nothing under ``pipeline/`` or ``workers/`` imports it, except the ``demo`` command, which
signs its samples with it. Why generate instead of checking files in: signed samples carry certificates that
expire and a trust chain the tests must control (a root they load as a trust anchor, and a second root they do
not), so the PKI and the media are produced together, in-process, in well under a second. Nothing here touches the
network: no timestamp authority, no OCSP, no remote manifest.

* :mod:`testkit.pki` — two three-level EC P-256 chains built with ``cryptography``: one trusted, one not.
* :mod:`testkit.media` — small JPEG, PNG, WAV and MP4 files (MP4 through PyAV).
* :mod:`testkit.signing` — sign any asset with any manifest definition, with optional ingredients.
* :mod:`testkit.catalogue` — the standard sample set, each :class:`~testkit.catalogue.Sample` carrying the label
  and provenance the pipeline must produce for it; ``python -m testkit`` re-reads every sample and prints a table.
"""
