"""Provenance signals per manifest, as the C2PA Asset Rubrics v1.0 signals rubric defines them. Pure.

The rubric (``asset-rubric-signals-local.yml``, C2PA Conformance Task Force) is a set of json-formula predicates that
the official evaluator runs over crJSON, once per manifest of the store, each manifest judged on its own assertions
alone ("local"): nothing is inherited along ingredient edges. This module is the same predicate set over
:class:`~pipeline.credentials.manifest.Manifest`. What it deliberately reproduces, because the rubric does:

* Only the assertion labelled exactly ``c2pa.actions.v2`` is read (not v1 ``c2pa.actions``, not ``c2pa.actions.v2__1``).
* Source types are compared as written, exact string equality with the ``http://`` URIs: an ``https://`` or padded
  URI matches nothing, and Adobe's legacy ``parameters."com.adobe.digitalSourceType"`` is ignored.
* ``c2pa.opened`` counts as an inception exactly like ``c2pa.created``.
* ``mediaUnknownProvenance`` looks at the ingredient assertion labelled exactly ``c2pa.ingredient.v3`` (the first v3
  ingredient) and nothing else: v1/v2 ingredients and ``c2pa.ingredient.v3__1`` onwards are not read.
* ``perceptibleNonGenAI`` fires for any non-GenAI source type, so ``digitalArt``/``composite`` fire it together with
  ``perceptiblePossiblyGenAI``.

Exact agreement needs :attr:`ManifestStore.crjson_manifests` (the reader passing ``Reader.crjson()``): from
``Reader.json()`` alone c2pa-python 0.38 reports v1 actions as ``c2pa.actions.v2``, so a v1 manifest is judged as if it
were v2 (see :func:`compute_signals`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pipeline.credentials.manifest import ACTIONS_V2, ActionsAssertion, Manifest, ManifestStore

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
C2PA = "http://c2pa.org/digitalsourcetype/"

INCEPTION_ACTIONS = frozenset({"c2pa.created", "c2pa.opened"})
NON_EDITORIAL_ACTIONS = frozenset(
    {
        "c2pa.converted",
        "c2pa.published",
        "c2pa.repackaged",
        "c2pa.transcoded",
        "c2pa.resized.proportional",
        "c2pa.enhanced",
        "c2pa.edited.metadata",
        "c2pa.watermarked",
        "c2pa.watermarked.bound",
        "c2pa.watermarked.unbound",
        "c2pa.redacted",
    }
)
GENAI_SOURCE_TYPES = frozenset(
    {
        IPTC + "trainedAlgorithmicMedia",
        IPTC + "compositeWithTrainedAlgorithmicMedia",
        IPTC + "compositeSynthetic",
        C2PA + "trainedAlgorithmicData",
    }
)
POSSIBLY_GENAI_SOURCE_TYPES = frozenset({IPTC + "digitalArt", IPTC + "composite"})

INCEPTION_SOURCE_TYPES: dict[str, frozenset[str]] = {
    "blankCanvas": frozenset({C2PA + "empty"}),
    "capturedMedia": frozenset({IPTC + "digitalCapture", IPTC + "computationalCapture"}),
    "capturedMediaStitched": frozenset({IPTC + "compositeCapture"}),
    "compositionMayContainGenAI": frozenset({IPTC + "composite"}),
    "fullyGenAIMedia": frozenset({IPTC + "trainedAlgorithmicMedia"}),
    "nonGenAIDigitalCreation": frozenset({IPTC + "digitalCreation"}),
    "partlyGenAICreation": frozenset({IPTC + "compositeWithTrainedAlgorithmicMedia"}),
    "screenCaptureMayContainGenAI": frozenset({IPTC + "screenCapture"}),
}
"""Inception signal -> the source types that raise it on a ``c2pa.created``/``c2pa.opened`` action."""

MEDIA_UNKNOWN_PROVENANCE = "mediaUnknownProvenance"
INCEPTION_SIGNALS = (
    "blankCanvas",
    "capturedMedia",
    "capturedMediaStitched",
    "compositionMayContainGenAI",
    "fullyGenAIMedia",
    MEDIA_UNKNOWN_PROVENANCE,
    "nonGenAIDigitalCreation",
    "partlyGenAICreation",
    "screenCaptureMayContainGenAI",
)
"""Every inception signal, in the rubric's statement order (the order a manifest's list is reported in)."""
TRANSFORMATION_SIGNALS = (
    "ambiguousActions",
    "nonEditorial",
    "perceptibleGenAI",
    "perceptibleNonGenAI",
    "perceptiblePossiblyGenAI",
)
"""Every transformation signal, in the rubric's statement order."""

FIRST_V3_INGREDIENT = "c2pa.ingredient.v3"


@dataclass(frozen=True)
class ManifestSignals:
    """The signals one manifest raises by itself. Names are the rubric's ids without ``inception:signal_`` etc."""

    manifest: str
    """The manifest's label."""
    inceptions: tuple[str, ...] = ()
    transformations: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Exactly ``manifest``, ``inceptions`` and ``transformations``; the lists in the rubric's statement order."""
        return {
            "manifest": self.manifest,
            "inceptions": list(self.inceptions),
            "transformations": list(self.transformations),
        }


def compute_signals(store: ManifestStore) -> list[ManifestSignals]:
    """One entry per manifest of the store, active manifest first.

    With crJSON in the store (:attr:`ManifestStore.crjson_manifests`) the manifests and their order are crJSON's,
    as in the official evaluator's report. Without it they come from ``json()``: the active manifest, then what its
    ingredients reach (:meth:`ManifestStore.walk`), then any other manifest of the store; and since ``json()`` hides
    whether an actions assertion was v1, a v1 manifest is judged as if its actions were ``c2pa.actions.v2``.
    """
    if store.crjson_manifests:
        manifests: list[Manifest] = list(store.crjson_manifests)
    else:
        manifests = store.walk()
        reached = {m.label for m in manifests}
        manifests += [m for label, m in store.manifests.items() if label not in reached]
    return [manifest_signals(m) for m in manifests]


def manifest_signals(manifest: Manifest) -> ManifestSignals:
    """The rubric's local predicates over one manifest."""
    actions_v2 = _actions_v2(manifest)
    actions = actions_v2.actions if actions_v2 is not None else ()
    inceptions = [
        name
        for name, source_types in INCEPTION_SOURCE_TYPES.items()
        if any(a.raw_action in INCEPTION_ACTIONS and a.raw_source_type in source_types for a in actions)
    ]
    first_v3 = next((i for i in manifest.ingredients if i.label == FIRST_V3_INGREDIENT), None)
    if first_v3 is not None and first_v3.manifest is None:
        inceptions.append(MEDIA_UNKNOWN_PROVENANCE)

    transformations: list[str] = []
    if (
        not actions
        or actions_v2 is None
        or actions_v2.all_actions_included is not True
        or any(a.raw_action is not None and not a.raw_action.startswith("c2pa.") for a in actions)
        or any(a.raw_action == "c2pa.unknown" for a in actions)
        or any("c2pa.actions" in label for label in manifest.gathered_assertions)
    ):
        transformations.append("ambiguousActions")
    if any(a.raw_action in NON_EDITORIAL_ACTIONS for a in actions):
        transformations.append("nonEditorial")
    perceptible = [
        a for a in actions if a.raw_action is not None and a.raw_action not in INCEPTION_ACTIONS | NON_EDITORIAL_ACTIONS
    ]
    if any(a.raw_source_type in GENAI_SOURCE_TYPES for a in perceptible):
        transformations.append("perceptibleGenAI")
    if any(a.raw_source_type is not None and a.raw_source_type not in GENAI_SOURCE_TYPES for a in perceptible):
        transformations.append("perceptibleNonGenAI")
    if any(a.raw_source_type in POSSIBLY_GENAI_SOURCE_TYPES for a in perceptible):
        transformations.append("perceptiblePossiblyGenAI")

    return ManifestSignals(
        manifest=manifest.label,
        inceptions=tuple(sorted(inceptions, key=INCEPTION_SIGNALS.index)),
        transformations=tuple(transformations),
    )


def signal_names(signals: Iterable[ManifestSignals]) -> set[str]:
    """Every signal name raised by any of the manifests."""
    return {name for s in signals for name in (*s.inceptions, *s.transformations)}


def _actions_v2(manifest: Manifest) -> ActionsAssertion | None:
    """The assertion the rubric reads: the one labelled exactly ``c2pa.actions.v2``."""
    return next((a for a in manifest.actions_assertions if a.label == ACTIONS_V2), None)
