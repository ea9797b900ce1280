"""Generated versus edited, from the manifest graph (issue 13 §1). Pure: no I/O.

A manifest's content is what its actions and ingredients put into it. Each part is *synthetic* (made by a
generative model) or *other* (anything else, including content whose origin is not declared), and a manifest is:

* ``generated`` when it holds synthetic content and nothing else: created by a generative model (an inception
  ``c2pa.created`` with a fully generative source type), or derived only from such content (a parent that is itself
  ``generated``, generative edits of it, synthetic ingredients placed on a blank canvas);
* ``edited`` when it holds synthetic content together with other content: a photo retouched with generative fill, a
  generated image placed beside a photo, a composite source type (``compositeWithTrainedAlgorithmicMedia``), a
  generative edit of content whose origin the manifest does not declare;
* None when nothing synthetic is in it.

The parts, per manifest (docs/labels.md, "Generated or edited", has the examples):

* Its inception actions (``c2pa.created``/``c2pa.opened``). ``created`` with a generative source type is synthetic,
  with a composite generative one (``compositeWithTrainedAlgorithmicMedia``) both, with
  ``http://c2pa.org/digitalsourcetype/empty`` (a blank canvas) nothing, with any other source type or none other.
  ``opened`` brings in its ``parentOf`` ingredient (one that names none opened content of undeclared origin).
* With no inception action: its ``parentOf`` ingredients; with none of those either, a manifest that records a
  generative edit edited *something* whose origin it does not say, which counts as other (unless it carries Adobe's
  legacy ``com.adobe.generative-ai`` assertion, which with no parent marks a generated origin, as before).
* Every later action's own source type: generative or composite generative (``compositeWithTrainedAlgorithmicMedia``
  on a generative fill) adds synthetic content to what is there, another term of the IPTC/C2PA vocabulary
  (``digitalCapture``, ``digitalCreation``, ``composite``...) other content; an action without one (crop, resize,
  filter), or with a URI outside those vocabularies, transforms what is there and adds nothing.
* Its ``parentOf`` and ``componentOf`` ingredients: an ingredient with its own manifest adds that manifest's
  content; one without credentials (or whose manifest is not in the store) is other.
* Its ``inputTo`` ingredients (a prompt image, a style reference: inputs to a process, not part of the result) add
  only their synthetic part: a generated reference image used by a human makes the result edited, a photo given to
  a model as input does not make a generated result edited.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from pipeline.credentials.manifest import Manifest, ManifestStore

Composition = Literal["generated", "edited"]

INCEPTION = frozenset({"c2pa.created", "c2pa.opened"})
BLANK_CANVAS = "c2pa:empty"
"""The normalised form of ``http://c2pa.org/digitalsourcetype/empty``: a created asset with no content yet."""


@dataclass(frozen=True)
class _Parts:
    synthetic: bool = False
    other: bool = False

    def __or__(self, more: _Parts) -> _Parts:
        return _Parts(self.synthetic or more.synthetic, self.other or more.other)


_NOTHING = _Parts()
_SYNTHETIC = _Parts(synthetic=True)
_OTHER = _Parts(other=True)
_BOTH = _Parts(True, True)


def composition(store: ManifestStore, generated: frozenset[str], edited: frozenset[str]) -> Composition | None:
    """``generated``, ``edited`` or None for the store's active manifest; ``generated``/``edited`` are the policy's
    normalised source types (``[source_types] ai_generated`` and ``ai_edited``)."""
    if store.active is None:
        return None
    parts = _Graph(store.manifests, generated, edited).parts(store.active)
    if not parts.synthetic:
        return None
    return "edited" if parts.other else "generated"


class _Graph:
    def __init__(self, manifests: Mapping[str, Manifest], generated: frozenset[str], edited: frozenset[str]) -> None:
        self._manifests = manifests
        self._generated, self._edited = generated, edited
        self._memo: dict[str, _Parts] = {}
        self._visiting: set[str] = set()

    def parts(self, label: str | None) -> _Parts:
        """The content of the manifest ``label``; an ingredient with none (or one not in the store) is other."""
        if label is None or label not in self._manifests:
            return _OTHER
        if label in self._memo:
            return self._memo[label]
        if label in self._visiting:  # a cycle (a forged store): the edge adds nothing already being counted
            return _NOTHING
        self._visiting.add(label)
        try:
            result = self._manifest(self._manifests[label])
        finally:
            self._visiting.discard(label)
        self._memo[label] = result
        return result

    def _origin(self, source_type: str | None) -> _Parts:
        """What a ``c2pa.created`` with this source type starts the content with."""
        if source_type in self._generated:
            return _SYNTHETIC
        if source_type in self._edited:
            return _BOTH
        return _NOTHING if source_type == BLANK_CANVAS else _OTHER

    def _added(self, source_type: str | None) -> _Parts:
        """What a later action with this source type adds. A composite generative type adds generated content
        to what is there (which is counted for what it is: a generated parent keeps its edit ``generated``); a
        non-generative term of the IPTC or C2PA vocabulary adds other content; an action without a source type, or
        with a URI outside the vocabularies, transforms what is there and adds nothing known."""
        if source_type in self._generated or source_type in self._edited:
            return _SYNTHETIC
        if source_type is None or source_type == BLANK_CANVAS or "/" in source_type:
            return _NOTHING
        return _OTHER

    def _manifest(self, manifest: Manifest) -> _Parts:
        parts = _NOTHING
        parents = [i for i in manifest.ingredients if i.relationship == "parentOf"]
        inceptions = [a for a in manifest.actions if a.action in INCEPTION]
        for action in inceptions:
            if action.action == "c2pa.created":
                parts |= self._origin(action.source_type)
            elif not parents:  # opened something it does not name: content of undeclared origin
                parts |= _OTHER
        # ``opened`` brings its parent in; so do parents without an ``opened`` (older claims often leave it out).
        for ingredient in parents:
            parts |= self.parts(ingredient.manifest)
        later = [a for a in manifest.actions if a.action not in INCEPTION]
        for action in later:
            parts |= self._added(action.source_type)
        if not inceptions and not parents:
            if manifest.legacy_genai:
                parts |= _SYNTHETIC
            elif parts.synthetic:
                parts |= _OTHER  # a generative edit of content whose origin is not declared
        elif manifest.legacy_genai:
            parts |= _SYNTHETIC
        for ingredient in manifest.ingredients:
            if ingredient.relationship == "componentOf":
                parts |= self.parts(ingredient.manifest)
            elif ingredient.relationship == "inputTo" and self.parts(ingredient.manifest).synthetic:
                parts |= _SYNTHETIC
        return parts
