"""``python -m bench.overrides``: what issue 13 adds to each labelling, in CPU time of one process.

1. The override lookup every labelling makes (one Redis GET of ``{p}:override:{sha}``; a miss, as for nearly every
   object), against a real Redis (``--redis-url``, default ``redis://127.0.0.1:6379/15``, under a key prefix of its
   own that is deleted afterwards; the lookup of a miss writes nothing).
2. ``decide`` on the signed composition samples (parsed manifest stores, the pure part only), and the
   generated-or-edited walk (:func:`pipeline.composition.composition`) alone on the same stores.
Best of 5 rounds; docs/performance.md sets the numbers against the worker's CPU per small object.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import redis

from pipeline.adapters.credentials.reader import C2paCredentialReader
from pipeline.adapters.redis_store import RedisOverrideStore
from pipeline.composition import composition
from pipeline.model import ObjectVersion
from pipeline.policy import decide, load_policy
from pipeline.ports import CredentialReport
from pipeline.settings import DEFAULT_POLICY
from testkit.catalogue import build_composition_samples
from testkit.pki import make_test_pki


def best_cpu(run: Callable[[], object], repeat: int) -> float:
    """Best CPU seconds per call over 5 rounds of ``repeat`` calls."""
    rounds = []
    for _ in range(5):
        start = time.process_time()
        for _ in range(repeat):
            run()
        rounds.append((time.process_time() - start) / repeat)
    return min(rounds)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.overrides")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()

    client = redis.Redis.from_url(args.redis_url)
    prefix = f"bench-overrides-{uuid.uuid4().hex[:8]}"
    store = RedisOverrideStore(client, prefix=prefix)
    miss = ObjectVersion("uploads", "u/42/photo.jpg", None, "9b2cf535f27731c974343645a3985328")
    try:
        lookup = best_cpu(lambda: store.get(miss), args.repeat)
    finally:
        for key in client.scan_iter(match=f"{prefix}:*"):
            client.delete(key)
    print(f"override lookup (miss): {lookup * 1000:.3f} ms CPU per object")

    pki = make_test_pki()
    policy = load_policy(DEFAULT_POLICY)
    with tempfile.TemporaryDirectory() as tmp:
        reader = C2paCredentialReader(pki.write(Path(tmp)))
        reports: list[CredentialReport] = []
        for sample in build_composition_samples(pki):
            path = Path(tmp) / sample.name
            path.write_bytes(sample.data)
            reports.append(reader.read(path))
    walk = best_cpu(lambda: [decide(r, policy) for r in reports], args.repeat // 10) / len(reports)
    alone = best_cpu(
        lambda: [composition(r.store, policy.ai_generated, policy.ai_edited) for r in reports if r.store],
        args.repeat // 10,
    ) / len(reports)
    print(
        f"decide per composition sample: {walk * 1000:.4f} ms CPU, of which the composition walk {alone * 1000:.4f} ms"
    )


if __name__ == "__main__":
    main()
