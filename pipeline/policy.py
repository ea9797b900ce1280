"""Credentials -> AIGC label, by a versioned policy file. Pure: no I/O beyond loading the TOML once.

The rules, in order (docs/labels.md has the table):

1. No credentials, or credentials that cannot be read -> ``unknown`` (never "human-made").
2. Generative AI anywhere in the manifest graph -> ``ai_generated`` when the asset holds only content a generative
   model made (created by one, or derived only from such content), ``ai_edited`` when it also holds content that is
   not (a photo with generative fill, a generated part placed beside a photo): :mod:`pipeline.composition` reads
   the actions, their order and the ingredients with their own credentials. These labels apply whatever the
   validation state: a signed AI claim only ever over-labels.
3. Credentials that fail validation and declare no AI -> ``unknown`` (configurable).
4. ``captured`` only for trusted credentials whose origin is a capture and whose later actions are non-editorial.
5. Otherwise ``no_ai_declared``.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pipeline.composition import composition
from pipeline.credentials.manifest import Manifest
from pipeline.credentials.traces import FAMILIES, TRACE_LABELS, TraceSignature, match_traces
from pipeline.model import LABELS, Label, Provenance
from pipeline.ports import CredentialReport
from pipeline.remote_manifests import Origin, parse_origin
from pipeline.signals import INCEPTION_ACTIONS


class PolicyError(ValueError):
    """The policy file is malformed; the message names the field."""


@dataclass(frozen=True)
class Policy:
    version: str
    ai_generated: frozenset[str]
    ai_edited: frozenset[str]
    captured: frozenset[str]
    non_editorial: frozenset[str]
    ai_claim_needs_valid_signature: bool = False
    invalid_without_ai: Label = "unknown"
    captured_requires: Provenance = "trusted"
    remote_manifest_hosts: tuple[Origin, ...] = ()
    """Origins remote C2PA manifests may be fetched from (``[remote_manifests] allowed``; the settings add more)."""
    ai_generators: frozenset[str] = frozenset()
    """Lower-cased claim generator / software agent names (see [generators] in the policy file)."""
    iptc_digital_source_type: bool = True
    trace_signatures: tuple[TraceSignature, ...] = ()
    """The generator-traces registry (``[[traces.signatures]]``), in file order; empty when ``traces.enabled`` is
    false."""

    @property
    def generative(self) -> frozenset[str]:
        return self.ai_generated | self.ai_edited


def load_policy(path: Path) -> Policy:
    """Load and check a policy TOML file; raises :class:`PolicyError` naming what is wrong."""
    try:
        doc = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PolicyError(f"policy file {path}: {exc}") from None
    read = _Reader(path, doc)
    policy = Policy(
        version=read.text("version"),
        ai_generated=read.names("source_types.ai_generated"),
        ai_edited=read.names("source_types.ai_edited"),
        captured=read.names("source_types.captured"),
        non_editorial=read.names("actions.non_editorial"),
        ai_claim_needs_valid_signature=read.flag("rules.ai_claim_needs_valid_signature", False),
        invalid_without_ai=read.choice("rules.invalid_without_ai", LABELS, "unknown"),  # type: ignore[arg-type]
        captured_requires=read.choice("rules.captured_requires", ("valid", "trusted"), "trusted"),  # type: ignore[arg-type]
        remote_manifest_hosts=read.origins("remote_manifests.allowed"),
        ai_generators=frozenset(g.strip().lower() for g in read.names("generators.ai_generated", required=False)),
        iptc_digital_source_type=read.flag("unsigned.iptc_digital_source_type", True),
        trace_signatures=read.signatures("traces.signatures") if read.flag("traces.enabled", True) else (),
    )
    return policy


class _Reader:
    """Typed access to the policy document: every wrong type is a PolicyError naming the dotted field."""

    _MISSING = object()

    def __init__(self, path: Path, doc: dict[str, object]) -> None:
        self._path, self._doc = path, doc

    def _get(self, dotted: str, required: bool) -> object:
        node: object = self._doc
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                if required:
                    raise PolicyError(f"policy file {self._path}: missing {dotted!r}")
                return self._MISSING
            node = node[part]
        return node

    def _bad(self, dotted: str, expected: str, value: object) -> PolicyError:
        return PolicyError(f"policy file {self._path}: {dotted} must be {expected}, not {value!r}")

    def text(self, dotted: str) -> str:
        value = self._get(dotted, True)
        if not isinstance(value, str) or not value.strip():  # a bare 2026.10 would read as the float 2026.1
            raise self._bad(dotted, "a quoted, non-empty string", value)
        return value

    def names(self, dotted: str, required: bool = True) -> frozenset[str]:
        value = self._get(dotted, required)
        if value is self._MISSING:
            return frozenset()
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self._bad(dotted, "a list of strings", value)
        return frozenset(v.strip() for v in value)

    def origins(self, dotted: str) -> tuple[Origin, ...]:
        try:
            return tuple(parse_origin(entry) for entry in sorted(self.names(dotted, required=False)))
        except ValueError as exc:
            raise PolicyError(f"policy file {self._path}: {dotted}: {exc}") from None

    def flag(self, dotted: str, default: bool) -> bool:
        value = self._get(dotted, False)
        if value is self._MISSING:
            return default
        if not isinstance(value, bool):
            raise self._bad(dotted, "true or false", value)
        return value

    def choice(self, dotted: str, allowed: tuple[str, ...], default: str) -> str:
        value = self._get(dotted, False)
        if value is self._MISSING:
            return default
        if value not in allowed:
            raise self._bad(dotted, f"one of {', '.join(allowed)}", value)
        return str(value)

    def signatures(self, dotted: str) -> tuple[TraceSignature, ...]:
        value = self._get(dotted, False)
        if value is self._MISSING:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self._bad(dotted, "an array of tables ([[traces.signatures]])", value)
        return tuple(self._signature(f"{dotted}[{i}]", entry) for i, entry in enumerate(value))

    def _signature(self, where: str, entry: dict[str, object]) -> TraceSignature:
        def text(key: str, required: bool = True) -> str | None:
            value = entry.get(key)
            if value is None and not required:
                return None
            if not isinstance(value, str) or not value.strip():
                raise self._bad(f"{where}.{key}", "a non-empty string", value)
            return value

        def pattern(key: str, required: bool = True) -> re.Pattern[str] | None:
            source = text(key, required)
            if source is None:
                return None
            try:
                return re.compile(source)
            except re.error as exc:
                raise PolicyError(
                    f"policy file {self._path}: {where}.{key} is not a regular expression ({exc})"
                ) from None

        family, label = text("family"), text("label")
        if family not in FAMILIES:
            raise self._bad(f"{where}.family", f"one of {', '.join(FAMILIES)}", family)
        if label not in TRACE_LABELS:
            raise self._bad(f"{where}.label", f"one of {', '.join(TRACE_LABELS)}", label)
        compiled = pattern("pattern")
        assert compiled is not None
        return TraceSignature(
            family=family,
            field=str(text("field")).strip(),
            pattern=compiled,
            generator=str(text("generator")).strip(),
            label=label,
            unless=pattern("unless", required=False),
        )


def version_key(version: str) -> tuple[tuple[int, int, str], ...]:
    """Order policy versions by their numbers: ``2026.11-9`` < ``2026.11-10`` (plain strings would say otherwise).

    Parts that are not numbers sort after numbers and among themselves as text, so any two versions compare, even
    one read from metadata an uploader wrote.
    """
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"[.\-+_]", version) if part
    )


@dataclass(frozen=True)
class Decision:
    label: Label
    explanation: str
    """One sentence a person can read: who signed, how far to trust it, what it says."""
    digital_source_types: tuple[str, ...] = ()
    signer: str | None = None
    generator: str | None = None
    failures: tuple[str, ...] = ()
    label_source: str | None = None
    """What decided an AI or capture label: ``c2pa`` (a signed source type or action), ``c2pa-generator`` (the
    known-generators registry), ``iptc-xmp`` (unsigned IPTC metadata), a generator-trace family (``png-text``,
    ``exif``, ``xmp``, ``iptc``, ``container-metadata``: the ``[[traces.signatures]]`` registry); None otherwise."""


LOCKING_SOURCES = frozenset({"c2pa", "c2pa-generator"})
"""Label sources that can lock an AI label: signed credentials (a source type, the legacy assertion, a registered
generator). Unsigned evidence (``iptc-xmp``, generator traces, fingerprint matches) and overrides never lock."""
AI_LABELS = frozenset({"ai_generated", "ai_edited"})


def is_locked(label: str, label_source: str | None, provenance: str) -> bool:
    """A label the platform may make permanent (issue 13 §4): AI declared by credentials that are ``valid`` or
    ``trusted``. Everything else is appealable: unsigned traces, fingerprint matches, invalid credentials (a signed AI
    claim that fails validation still labels AI, but it can be appealed), ``captured`` and the non-AI labels."""
    return label in AI_LABELS and label_source in LOCKING_SOURCES and provenance in ("valid", "trusted")


def decide(report: CredentialReport, policy: Policy) -> Decision:
    """Apply the policy to what the reader found."""
    if report.manifest_provenance is not None:  # c2pa counted an identity's failure: judge the manifest's own
        report = dataclasses.replace(report, provenance=report.manifest_provenance)
    store = report.store
    if report.provenance == "absent" or store is None or store.active_manifest is None:
        reason = report.reason or "no Content Credentials"
        xmp = set(report.xmp_source_types) if policy.iptc_digital_source_type else set()
        for label, kinds in (("ai_generated", policy.ai_generated), ("ai_edited", policy.ai_edited)):
            if xmp & kinds:
                return Decision(
                    label,  # type: ignore[arg-type]
                    f"No Content Credentials; unsigned IPTC metadata declares {', '.join(sorted(xmp & kinds))}.",
                    digital_source_types=tuple(sorted(xmp)),
                    label_source="iptc-xmp",
                )
        if trace := match_traces(report.metadata_fields, policy.trace_signatures):
            return Decision(
                trace.label,  # type: ignore[arg-type]
                f"No usable Content Credentials ({reason}); unsigned {trace.family} metadata field "
                f"{trace.field!r} declares {trace.generator}.",
                generator=trace.generator,
                label_source=trace.family,
            )
        what = "provenance unknown" if report.provenance == "absent" else "could not be read"
        return Decision("unknown", f"No usable Content Credentials ({reason}): {what}.")
    active = store.active_manifest
    lineage = store.parent_chain()
    everything = store.walk()
    all_types = _source_types(everything)
    trust = f"Signed by {active.signer or 'an unnamed signer'} ({report.provenance})"

    def make(label: Label, says: str, source: str | None = "c2pa") -> Decision:
        return Decision(
            label,
            f"{trust}: {says}.",
            digital_source_types=tuple(sorted(all_types)),
            signer=active.signer,
            generator=active.claim_generator,
            failures=store.failure_codes,
            label_source=source,
        )

    if not policy.ai_claim_needs_valid_signature or report.provenance in ("valid", "trusted"):
        agent = _ai_agent(everything, policy)
        kind = composition(store, policy.ai_generated, policy.ai_edited)
        if kind == "generated":
            return make("ai_generated", f"created with generative AI{agent}")
        if kind == "edited":
            return make("ai_edited", f"edited or composited with generative AI{agent}")
    if report.provenance in ("valid", "trusted") and (generator := _known_generator(active, policy)):
        return make("ai_generated", f"made by {generator}, a known generative-AI tool", "c2pa-generator")
    if report.provenance == "invalid":
        failures = ", ".join(store.failure_codes[:3]) or "validation failed"
        claims_ai = bool(all_types & policy.generative) or any(m.legacy_genai for m in everything)
        says = (
            "declare generative AI, which this policy accepts only from valid credentials"
            if claims_ai
            else ("declare no AI")
        )
        if not claims_ai and (trace := match_traces(report.metadata_fields, policy.trace_signatures)):
            return Decision(
                trace.label,  # type: ignore[arg-type]
                f"{trust}: the credentials fail validation ({failures}) and declare no AI; unsigned {trace.family} "
                f"metadata field {trace.field!r} declares {trace.generator}.",
                digital_source_types=tuple(sorted(all_types)),
                signer=active.signer,
                generator=trace.generator,
                failures=store.failure_codes,
                label_source=trace.family,
            )
        return make(policy.invalid_without_ai, f"the credentials fail validation ({failures}) and {says}", None)
    if _at_least(report.provenance, policy.captured_requires) and _unedited_capture(lineage, policy):
        return make("captured", "captured with a camera, not edited since")
    return make("no_ai_declared", f"declares no generative AI ({_summary(active)})", None)


_TRUST_ORDER = {"invalid": 0, "valid": 1, "trusted": 2}


def _at_least(provenance: str, required: str) -> bool:
    """``captured_requires = "valid"`` accepts trusted credentials too."""
    return _TRUST_ORDER.get(provenance, -1) >= _TRUST_ORDER.get(required, 99)


def _known_generator(manifest: Manifest, policy: Policy) -> str | None:
    """The claim generator or a software agent named in the registry, matched exactly (case, ``/version`` aside)."""
    names = [manifest.claim_generator, *manifest.software_agents]
    for name in names:
        if name and name.split("/")[0].strip().lower() in policy.ai_generators:
            return name.split("/")[0].strip()
    return None


def _source_types(manifests: Iterable[Manifest]) -> set[str]:
    return {a.source_type for m in manifests for a in m.actions if a.source_type}


def _ai_agent(manifests: list[Manifest], policy: Policy) -> str:
    for manifest in manifests:
        for action in manifest.actions:
            if action.source_type in policy.generative and action.software_agent:
                return f" ({action.software_agent})"
    for manifest in manifests:
        if manifest.legacy_genai and manifest.claim_generator:
            return f" ({manifest.claim_generator})"
    return ""


def _unedited_capture(lineage: list[Manifest], policy: Policy) -> bool:
    """The origin manifest is a capture and every later action along the lineage is non-editorial."""
    if not lineage:
        return False
    origin = lineage[-1]
    inceptions = [a for a in origin.actions if a.action in INCEPTION_ACTIONS]
    if not inceptions or not all(a.source_type in policy.captured for a in inceptions):
        return False
    for manifest in lineage:
        for action in manifest.actions:
            if action.action in INCEPTION_ACTIONS:
                if manifest is not origin and action.source_type not in (None, *policy.captured):
                    return False
                continue
            if action.action not in policy.non_editorial:
                return False
    return True


def _summary(manifest: Manifest) -> str:
    actions = sorted({a.action.removeprefix("c2pa.") for a in manifest.actions})
    return "actions: " + ", ".join(actions) if actions else "no actions recorded"
