"""Sign any asset with any C2PA manifest definition (c2pa-python's Builder), with optional ingredients.

Things c2pa-rs 0.91 enforces that shape this module:

* Every manifest is verified right after signing. Claim v2 needs a first action ``c2pa.created`` or
  ``c2pa.opened``, and every ``c2pa.opened`` / ``c2pa.placed`` / ``c2pa.removed`` action must name its
  ingredient(s); :func:`sign` fills those references in when the caller leaves them out.
* The Builder always writes actions as ``c2pa.actions.v2``, even when the definition says ``c2pa.actions``
  (and even with ``claim_version: 1``). A genuine v1 actions assertion cannot be produced with this SDK.
"""

from __future__ import annotations

import contextlib
import copy
import io
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import c2pa

from testkit.pki import TestPKI

DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/"
TRAINED_ALGORITHMIC_MEDIA = DIGITAL_SOURCE_TYPE + "trainedAlgorithmicMedia"
COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA = DIGITAL_SOURCE_TYPE + "compositeWithTrainedAlgorithmicMedia"
DIGITAL_CAPTURE = DIGITAL_SOURCE_TYPE + "digitalCapture"
DIGITAL_CREATION = DIGITAL_SOURCE_TYPE + "digitalCreation"

_EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "image/webp": "webp",
    "video/mp4": "mp4",
}

# Which ingredient relationship an action that must reference ingredients points at by default.
_ACTION_RELATIONSHIP = {
    "c2pa.opened": "parentOf",
    "c2pa.placed": "componentOf",
    "c2pa.removed": "componentOf",
}
_INGREDIENT_PARAMETERS = ("ingredientIds", "ingredients", "ingredient")
_THUMBNAIL_LONG_EDGE = 64
"""c2pa scales thumbnails to a 1024 px long edge by default, even up from a 64 px image: a ~45 KB JPEG per
manifest and per ingredient. Capped here, a signed sample stays a few KB and still carries its thumbnails."""


def actions_of(definition: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for assertion in definition.get("assertions", ()):
        if str(assertion.get("label", "")).startswith("c2pa.actions"):
            yield from assertion.get("data", {}).get("actions", ())


def _link_ingredients(definition: dict[str, Any], ids_by_relationship: Mapping[str, list[str]]) -> None:
    """Point each opened/placed/removed action that names no ingredient at the ingredients it must reference.

    c2pa-rs refuses to sign such an action without an ingredient reference; tests should not have to spell out
    the ``ingredientIds`` plumbing for the common case.
    """
    for action in actions_of(definition):
        relationship = _ACTION_RELATIONSHIP.get(str(action.get("action")))
        if relationship is None:
            continue
        parameters = action.setdefault("parameters", {})
        if any(key in parameters for key in _INGREDIENT_PARAMETERS):
            continue
        ids = ids_by_relationship.get(relationship, [])
        if ids:
            parameters["ingredientIds"] = list(ids)


def sign(
    pki: TestPKI,
    data: bytes,
    mime: str,
    manifest: Mapping[str, Any],
    *,
    trusted: bool = True,
    ingredients: Sequence[tuple[bytes, str, str]] = (),
) -> bytes:
    """Embed a C2PA manifest built from ``manifest`` (a c2pa Builder definition) in ``data``, return that.

    ``ingredients`` are ``(bytes, mime, relationship)`` tuples (relationship ``parentOf``, ``componentOf``
    or ``inputTo``); their own credentials, if any, are carried into the new manifest store. Ingredient
    ``i`` gets the label ``ingredient-{i}``, which actions may reference as
    ``"parameters": {"ingredientIds": [...]}``; an opened/placed/removed action that references nothing is
    linked to the parentOf/componentOf ingredients.

    The trusted or untrusted identity of ``pki`` signs with ES256 and no timestamp authority. The Builder runs
    with the PKI's trust settings, so the validation results c2pa records for each ingredient say "trusted"
    exactly when the ingredient was signed by the trusted chain. Thumbnails are capped at a 64 px long edge.
    """
    definition = copy.deepcopy(dict(manifest))
    definition.setdefault("format", mime)
    ids_by_relationship: dict[str, list[str]] = {}
    for index, (_, _, relationship) in enumerate(ingredients):
        ids_by_relationship.setdefault(relationship, []).append(f"ingredient-{index}")
    _link_ingredients(definition, ids_by_relationship)

    output = io.BytesIO()
    with _builder(pki, definition, trusted=trusted) as (signer, builder):
        for index, (ingredient, ingredient_mime, relationship) in enumerate(ingredients):
            extension = _EXTENSIONS.get(ingredient_mime, "bin")
            builder.add_ingredient(
                {
                    "title": f"ingredient-{index}.{extension}",
                    "relationship": relationship,
                    "label": f"ingredient-{index}",
                },
                ingredient_mime,
                io.BytesIO(ingredient),
            )
        builder.sign(signer, mime, io.BytesIO(data), output)
    return output.getvalue()


@contextlib.contextmanager
def _builder(pki: TestPKI, definition: dict[str, Any], *, trusted: bool) -> Iterator[tuple[Any, Any]]:
    """A c2pa Signer for the trusted or untrusted identity and a Builder for ``definition``, with the PKI's trust
    settings (so ingredients' validation results say "trusted" exactly for the trusted chain) and small thumbnails."""
    if trusted:
        chain, key = pki.trusted_chain_pem, pki.trusted_key_pem
    else:
        chain, key = pki.untrusted_chain_pem, pki.untrusted_key_pem
    info = c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain, key, None)
    settings = {**pki.c2pa_settings(), "builder": {"thumbnail": {"long_edge": _THUMBNAIL_LONG_EDGE}}}
    with (
        c2pa.Context.from_dict(settings) as context,
        c2pa.Signer.from_info(info) as signer,
        c2pa.Builder(definition, context) as builder,
    ):
        yield signer, builder


def sign_remote(
    pki: TestPKI, data: bytes, mime: str, manifest: Mapping[str, Any], url: str, *, trusted: bool = True
) -> tuple[bytes, bytes]:
    """Sign ``data`` with its manifest store NOT embedded, only a reference to ``url`` (c2pa's remote manifest:
    ``Builder.set_no_embed`` + ``set_remote_url``; for JPEG c2pa writes it as XMP ``dcterms:provenance``).

    Returns ``(asset, manifest_store)``: the asset bytes and the store to serve at ``url``.
    """
    definition = copy.deepcopy(dict(manifest))
    definition.setdefault("format", mime)
    output = io.BytesIO()
    with _builder(pki, definition, trusted=trusted) as (signer, builder):
        builder.set_no_embed()
        builder.set_remote_url(url)
        store = builder.sign(signer, mime, io.BytesIO(data), output)
    return output.getvalue(), bytes(store)


def definition(
    generator: str,
    title: str,
    actions: Sequence[Mapping[str, Any]],
    *,
    label: str = "c2pa.actions.v2",
    claim_version: int | None = None,
    all_actions_included: bool | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {"actions": [dict(a) for a in actions]}
    if all_actions_included is not None:
        data["allActionsIncluded"] = all_actions_included
    definition: dict[str, Any] = {
        "claim_generator_info": [{"name": generator, "version": "1.0"}],
        "title": title,
        "assertions": [{"label": label, "data": data}],
    }
    if claim_version is not None:
        definition["claim_version"] = claim_version
    return definition


def created(source_type: str, **extra: Any) -> dict[str, Any]:
    return {"action": "c2pa.created", "digitalSourceType": source_type, **extra}


def sign_with_identity(
    pki: TestPKI,
    data: bytes,
    mime: str,
    manifest: Mapping[str, Any],
    *,
    trusted: bool = True,
    identity_trusted: bool = False,
    roles: Sequence[str] = ("cawg.creator",),
) -> bytes:
    """Like :func:`sign`, plus a CAWG X.509 identity assertion (``cawg.identity``, ``sig_type`` ``cawg.x509.cose``)
    signed by the trusted or untrusted identity of ``pki`` (``identity_trusted``), naming ``roles``.

    c2pa-rs builds the identity signer only from settings (``signer`` and ``cawg_x509_signer``, both ``local``);
    c2pa-python 0.38 has no public way to sign with the Context's settings signer, so the Builder is told it has
    one (``_has_context_signer``), and ``Builder.sign`` takes c2pa's own ``c2pa_builder_sign_context`` path.
    c2pa-rs 0.91 verifies an X.509 identity against no identity trust list (it has no ``cawg_trust`` settings),
    so every such identity reads back ``cawg.x509.credential.untrusted`` whichever chain signed it.
    """

    def local(chain: bytes, key: bytes, **extra: Any) -> dict[str, Any]:
        return {"local": {"alg": "es256", "sign_cert": chain.decode(), "private_key": key.decode(), **extra}}

    def pair(good: bool) -> tuple[bytes, bytes]:
        if good:
            return pki.trusted_chain_pem, pki.trusted_key_pem
        return pki.untrusted_chain_pem, pki.untrusted_key_pem

    signer, identity = pair(trusted), pair(identity_trusted)
    settings = {
        **pki.c2pa_settings(),
        "builder": {"thumbnail": {"long_edge": _THUMBNAIL_LONG_EDGE}},
        "signer": local(*signer),
        "cawg_x509_signer": local(*identity, referenced_assertions=["c2pa.actions"], roles=list(roles)),
    }
    definition = copy.deepcopy(dict(manifest))
    definition.setdefault("format", mime)
    output = io.BytesIO()
    with c2pa.Context.from_dict(settings) as context, c2pa.Builder(definition, context) as builder:
        builder._has_context_signer = True  # see the docstring
        builder.sign(mime, io.BytesIO(data), output)
    return output.getvalue()
