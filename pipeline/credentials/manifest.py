"""The c2pa manifest-store JSON as plain frozen dataclasses. Pure: no I/O, no c2pa import.

:func:`parse_store` accepts the dict that ``c2pa.Reader.json()`` produces (tests build such dicts by hand), keeps
what labelling needs and normalises the messy parts real files carry: v1 ``c2pa.actions`` beside
``c2pa.actions.v2``, source types with stray whitespace or an https scheme, Adobe's legacy
``parameters."com.adobe.digitalSourceType"`` and ``com.adobe.generative-ai`` assertion.

When the dict also carries the store as crJSON (``c2pa.Reader.crjson()``) under :data:`CRJSON_KEY`, the same
manifests are built from it too, into :attr:`ManifestStore.crjson_manifests`. crJSON is what the C2PA asset rubrics
are written against, and it keeps what ``json()`` loses: c2pa-python 0.38's ``json()`` relabels a v1
``c2pa.actions`` assertion as ``c2pa.actions.v2``, drops the ``__N`` instance suffix of repeated assertions (it
moves it to an ``instance`` key), leaves out a manifest it failed to load, and orders manifests arbitrarily.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.credentials.identity import Identity, identities, manifest_codes

IPTC_SOURCE_TYPE_PREFIX = "cv.iptc.org/newscodes/digitalsourcetype/"
C2PA_SOURCE_TYPE_PREFIX = "c2pa.org/digitalsourcetype/"

ACTIONS_V1 = "c2pa.actions"
ACTIONS_V2 = "c2pa.actions.v2"
LEGACY_ADOBE_GENAI = "com.adobe.generative-ai"
INGREDIENT = "c2pa.ingredient"
CRJSON_KEY = "crjson"
"""Optional key of the dict given to :func:`parse_store`: the same store as ``c2pa.Reader.crjson()`` reports it."""


def normalise_source_type(value: object) -> str | None:
    """``" https://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia "`` -> ``trainedAlgorithmicMedia``.

    The IPTC vocabulary and the C2PA one (``http://c2pa.org/digitalsourcetype/empty``) both map to their bare term,
    with the scheme (http or https), surrounding whitespace and a trailing slash ignored. An unrecognised URI is kept
    whole (trimmed) so it is never mistaken for a known term: matching is exact, never by substring.
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text:
        return None
    bare = text.removeprefix("https://").removeprefix("http://").rstrip("/")
    for prefix in (IPTC_SOURCE_TYPE_PREFIX, C2PA_SOURCE_TYPE_PREFIX):
        if bare.startswith(prefix):
            term = bare[len(prefix) :]
            return "c2pa:" + term if prefix == C2PA_SOURCE_TYPE_PREFIX else term
    return text


@dataclass(frozen=True)
class Action:
    action: str
    source_type: str | None = None
    """Normalised digital source type (see :func:`normalise_source_type`)."""
    software_agent: str | None = None
    from_v2: bool = True
    """False when read from a v1 ``c2pa.actions`` assertion."""
    raw_action: str | None = field(default=None, compare=False)
    """The ``action`` value exactly as written (not trimmed); None when it is not a string."""
    raw_source_type: str | None = field(default=None, compare=False)
    """The action's own ``digitalSourceType`` exactly as written: not normalised, no fallback to Adobe's legacy
    parameter. None when absent or not a string."""


@dataclass(frozen=True)
class ActionsAssertion:
    """One actions assertion as the store holds it, for rules that must see exactly what was written."""

    label: str
    """As keyed in the store, instance suffix kept: ``c2pa.actions``, ``c2pa.actions.v2``, ``c2pa.actions.v2__1``."""
    actions: tuple[Action, ...] = ()
    all_actions_included: bool | None = None
    """``allActionsIncluded`` when it is a JSON boolean; None when absent or of another type."""
    gathered: bool = False
    """Listed in a v2 claim's ``gathered_assertions`` rather than its ``created_assertions``."""


@dataclass(frozen=True)
class Ingredient:
    title: str | None
    relationship: str
    """``parentOf``, ``componentOf`` or ``inputTo``."""
    manifest: str | None
    """Label of the ingredient's own manifest in the store, or None when it came with no credentials."""
    label: str | None = field(default=None, compare=False)
    """The ingredient assertion's label, instance suffix included: ``c2pa.ingredient.v3``, ``c2pa.ingredient__1``."""


@dataclass(frozen=True)
class Manifest:
    label: str
    claim_generator: str | None
    signer_issuer: str | None
    signer_common_name: str | None
    signed_at: str | None
    actions: tuple[Action, ...] = ()
    has_actions_v2: bool = False
    all_actions_included: bool | None = None
    """The v2 ``allActionsIncluded`` flag, where present."""
    assertion_labels: tuple[str, ...] = ()
    ingredients: tuple[Ingredient, ...] = ()
    legacy_genai: bool = False
    """Carries Adobe's pre-standard ``com.adobe.generative-ai`` assertion."""
    software_agents: tuple[str, ...] = ()
    actions_assertions: tuple[ActionsAssertion, ...] = field(default=(), compare=False)
    """Every actions assertion (v1 and v2) in store order, each with its own actions."""
    claim_version: int | None = field(default=None, compare=False)
    gathered_assertions: tuple[str, ...] = field(default=(), compare=False)
    """Labels (instance suffix included) of the assertions a v2 claim lists as ``gathered_assertions``."""

    @property
    def signer(self) -> str | None:
        return self.signer_issuer or self.signer_common_name


@dataclass(frozen=True)
class ManifestStore:
    active: str | None
    manifests: Mapping[str, Manifest]
    validation_state: str | None
    """c2pa's verdict: ``Trusted``, ``Valid`` or ``Invalid``."""
    failure_codes: tuple[str, ...] = ()
    crjson_manifests: tuple[Manifest, ...] = ()
    """Every manifest of the store built from crJSON, in crJSON's order (active first); empty when the dict given to
    :func:`parse_store` carried no :data:`CRJSON_KEY`. Unlike :attr:`manifests` it tells v1 actions from v2 and keeps
    assertion instance labels; it may also hold a manifest ``json()`` left out."""
    identities: tuple[Identity, ...] = field(default=(), compare=False)
    """The active manifest's CAWG identity assertions (:mod:`pipeline.credentials.identity`); their failures are
    not in :attr:`failure_codes` and do not change :attr:`validation_state`."""

    @property
    def active_manifest(self) -> Manifest | None:
        return self.manifests.get(self.active) if self.active else None

    def walk(self, relationships: tuple[str, ...] = ("parentOf", "componentOf", "inputTo")) -> list[Manifest]:
        """The active manifest and every manifest reachable through ingredients, each once, active first."""
        seen: set[str] = set()
        order: list[Manifest] = []
        stack: list[str | None] = [self.active]
        while stack:
            label = stack.pop()
            if label is None or label in seen or label not in self.manifests:
                continue
            seen.add(label)
            manifest = self.manifests[label]
            order.append(manifest)
            stack.extend(i.manifest for i in reversed(manifest.ingredients) if i.relationship in relationships)
        return order

    def parent_chain(self) -> list[Manifest]:
        """Active manifest, its parentOf ingredient's manifest, and so on back to the origin."""
        chain: list[Manifest] = []
        label = self.active
        while label and label in self.manifests and all(m.label != label for m in chain):
            manifest = self.manifests[label]
            chain.append(manifest)
            parents = [i for i in manifest.ingredients if i.relationship == "parentOf"]
            label = parents[0].manifest if parents else None
        return chain


def parse_store(doc: Mapping[str, Any]) -> ManifestStore:
    """Build a :class:`ManifestStore` from c2pa's manifest-store JSON (as a dict), plus crJSON when it carries some."""
    raw = doc.get("manifests") or {}
    manifests = {str(label): _manifest(str(label), body) for label, body in raw.items() if isinstance(body, dict)}
    codes = manifest_codes(doc)  # an identity assertion's failures are not the manifest's
    return ManifestStore(
        active=doc.get("active_manifest"),
        manifests=manifests,
        validation_state=doc.get("validation_state"),
        failure_codes=tuple(codes),
        crjson_manifests=_crjson_manifests(doc.get(CRJSON_KEY)),
        identities=identities(doc),
    )


def _manifest(label: str, body: Mapping[str, Any]) -> Manifest:
    claim_version = body.get("claim_version")
    version = claim_version if isinstance(claim_version, int) and not isinstance(claim_version, bool) else None
    pairs: list[tuple[str, Any, bool]] = []
    for assertion in body.get("assertions") or []:
        if not isinstance(assertion, dict):
            continue
        a_label = str(assertion.get("label", ""))
        instance = assertion.get("instance")
        key = f"{a_label}__{instance}" if isinstance(instance, int) and instance > 0 else a_label
        # json() marks a v2 claim's created assertions ``created: true``; the others were gathered.
        gathered = version is not None and version >= 2 and assertion.get("created") is not True
        pairs.append((key, assertion.get("data") or {}, gathered))
    facts = _assertion_facts(pairs)
    signature = body.get("signature_info") or {}
    return Manifest(
        label=label,
        claim_generator=_generator_name(body),
        signer_issuer=signature.get("issuer"),
        signer_common_name=signature.get("common_name"),
        signed_at=signature.get("time"),
        actions=facts.actions,
        has_actions_v2=facts.has_v2,
        all_actions_included=facts.all_included,
        assertion_labels=tuple(str(a.get("label", "")) for a in body.get("assertions") or [] if isinstance(a, dict)),
        ingredients=tuple(_ingredient(i) for i in body.get("ingredients") or [] if isinstance(i, dict)),
        legacy_genai=facts.legacy,
        software_agents=tuple(sorted(_agents(list(facts.actions)))),
        actions_assertions=facts.actions_assertions,
        claim_version=version,
        gathered_assertions=tuple(key for key, _, gathered in pairs if gathered),
    )


@dataclass(frozen=True)
class _Facts:
    actions: tuple[Action, ...]
    has_v2: bool
    all_included: bool | None
    legacy: bool
    actions_assertions: tuple[ActionsAssertion, ...]


def _assertion_facts(pairs: list[tuple[str, Any, bool]]) -> _Facts:
    """What labelling reads from a manifest's assertions, given as (label, data, gathered) in store order."""
    actions: list[Action] = []
    has_v2 = False
    all_included: bool | None = None
    legacy = False
    assertions: list[ActionsAssertion] = []
    for a_label, data, gathered in pairs:
        base = _strip_instance(a_label)
        if base == LEGACY_ADOBE_GENAI:
            legacy = True
        if base in (ACTIONS_V1, ACTIONS_V2) and isinstance(data, dict):
            v2 = base == ACTIONS_V2
            has_v2 = has_v2 or v2
            if v2 and "allActionsIncluded" in data:
                all_included = bool(data["allActionsIncluded"])
            items = data.get("actions")
            own = tuple(_action(a, v2) for a in (items if isinstance(items, list) else []) if isinstance(a, dict))
            actions.extend(own)
            flag = data.get("allActionsIncluded")
            assertions.append(ActionsAssertion(a_label, own, flag if isinstance(flag, bool) else None, gathered))
    return _Facts(tuple(actions), has_v2, all_included, legacy, tuple(assertions))


def _crjson_manifests(doc: object) -> tuple[Manifest, ...]:
    if not isinstance(doc, Mapping):
        return ()
    entries = doc.get("manifests")
    if not isinstance(entries, list):
        return ()
    return tuple(_crjson_manifest(e) for e in entries if isinstance(e, Mapping) and isinstance(e.get("label"), str))


def _crjson_manifest(entry: Mapping[str, Any]) -> Manifest:
    """One ``manifests[]`` entry of crJSON: ``assertions`` keyed by instance label, ``claim.v2`` (or v1 ``claim``)."""
    assertions = _mapping(entry.get("assertions"))
    claim_v2 = entry.get("claim.v2")
    claim = _mapping(claim_v2) or _mapping(entry.get("claim"))
    gathered: list[str] = []
    if isinstance(claim_v2, Mapping):
        refs = claim_v2.get("gathered_assertions")
        for ref in refs if isinstance(refs, list) else []:
            if isinstance(ref, Mapping) and isinstance(ref.get("url"), str):
                gathered.append(ref["url"].rsplit("/", 1)[-1])
    facts = _assertion_facts([(str(k), v, str(k) in gathered) for k, v in assertions.items()])
    signature = _mapping(entry.get("signature"))
    subject = _mapping(_mapping(signature.get("certificateInfo")).get("subject"))
    stamp = _mapping(signature.get("timeStampInfo"))
    ingredients = tuple(
        _crjson_ingredient(str(k), v)
        for k, v in assertions.items()
        if _strip_instance(str(k)) in (INGREDIENT, INGREDIENT + ".v2", INGREDIENT + ".v3") and isinstance(v, Mapping)
    )
    return Manifest(
        label=str(entry["label"]),
        claim_generator=_generator_name(claim),
        signer_issuer=_text(subject.get("O")),
        signer_common_name=_text(subject.get("CN")),
        signed_at=_text(stamp.get("timestamp")),
        actions=facts.actions,
        has_actions_v2=facts.has_v2,
        all_actions_included=facts.all_included,
        assertion_labels=tuple(str(k) for k in assertions),
        ingredients=ingredients,
        legacy_genai=facts.legacy,
        software_agents=tuple(sorted(_agents(list(facts.actions)))),
        actions_assertions=facts.actions_assertions,
        claim_version=2 if isinstance(claim_v2, Mapping) else 1 if claim else None,
        gathered_assertions=tuple(gathered),
    )


def _crjson_ingredient(label: str, body: Mapping[str, Any]) -> Ingredient:
    """crJSON ingredient assertion: a hashed-URI ``activeManifest`` (v3) or ``c2pa_manifest`` (v1, v2)."""
    key = "activeManifest" if _strip_instance(label) == INGREDIENT + ".v3" else "c2pa_manifest"
    url = _mapping(body.get(key)).get("url")
    return Ingredient(
        title=_text(body.get("dc:title")),
        relationship=str(body.get("relationship") or "componentOf"),
        manifest=_manifest_label_from_url(url) if isinstance(url, str) else None,
        label=label,
    )


def _manifest_label_from_url(url: str) -> str | None:
    """``self#jumbf=/c2pa/urn:c2pa:...:contentauth`` (or a longer path below it) -> ``urn:c2pa:...:contentauth``."""
    _, sep, rest = url.partition("/c2pa/")
    label = rest.split("/", 1)[0] if sep else ""
    return label or None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _agents(actions: list[Action]) -> set[str]:
    return {a.software_agent for a in actions if a.software_agent is not None}


def _strip_instance(label: str) -> str:
    """``c2pa.actions__1`` -> ``c2pa.actions`` (c2pa numbers repeated assertions with a ``__N`` suffix)."""
    head, sep, tail = label.rpartition("__")
    return head if sep and tail.isdigit() else label


def _action(raw: Mapping[str, Any], v2: bool) -> Action:
    params = raw.get("parameters") if isinstance(raw.get("parameters"), dict) else {}
    source = raw.get("digitalSourceType")
    written_action = raw.get("action")
    written_source = source
    if source is None and params:
        source = params.get("com.adobe.digitalSourceType")
    agent = raw.get("softwareAgent")
    if isinstance(agent, dict):  # v2 ClaimGeneratorInfo form
        agent = agent.get("name")
    return Action(
        action=str(raw.get("action", "")).strip(),
        source_type=normalise_source_type(source),
        software_agent=str(agent).strip() if isinstance(agent, str) and agent.strip() else None,
        from_v2=v2,
        raw_action=written_action if isinstance(written_action, str) else None,
        raw_source_type=written_source if isinstance(written_source, str) else None,
    )


def _ingredient(raw: Mapping[str, Any]) -> Ingredient:
    return Ingredient(
        title=raw.get("title"),
        relationship=str(raw.get("relationship") or "componentOf"),
        manifest=raw.get("active_manifest"),
        label=_text(raw.get("label")),
    )


def _generator_name(body: Mapping[str, Any]) -> str | None:
    info = body.get("claim_generator_info")
    if isinstance(info, list) and info and isinstance(info[0], dict) and info[0].get("name"):
        return str(info[0]["name"])
    if isinstance(info, dict) and info.get("name"):
        return str(info["name"])
    generator = body.get("claim_generator")
    return str(generator) if generator else None
