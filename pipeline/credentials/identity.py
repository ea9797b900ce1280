"""CAWG identity assertions (``cawg.identity``), kept apart from the manifest's own validity. Pure.

An identity assertion says who (a person, an organisation, a social account) stands behind a manifest, signed by
that identity's own credential: an X.509 certificate (``sig_type`` ``cawg.x509.cose``) or an identity claims
aggregator's verifiable credential (``cawg.identity_claims_aggregation``). Whether that identity verifies is a
question about the identity, not about the content's provenance: c2pa-rs reports it with ``cawg.*`` status codes,
and an identity failure must not change the manifest's validity or its label.

c2pa-python 0.38 (c2pa-rs 0.91) does not keep them apart on its own: verifying an X.509 identity signature logs
the identity credential's trust result as a second ``signingCredential.untrusted`` on the *claim signature's*
URL in the store-wide ``validation_status``, and its validation state drops from ``Trusted`` to ``Valid`` for a
manifest whose own signer is trusted (the per-manifest ``validation_results`` still say
``signingCredential.trusted``). :func:`manifest_codes` and :func:`manifest_state` undo exactly that:

* every ``cawg.*`` code is the identity's, never the manifest's;
* a ``signingCredential.untrusted`` on a claim signature that the active manifest's ``validation_results`` also
  list as ``signingCredential.trusted`` is the identity check's, and is dropped;
* if nothing was dropped, c2pa's state stands; otherwise it is recomputed from what is left: no failure at all is
  ``Trusted`` when the claim signature is trusted (else ``Valid``), only trust failures (``signingCredential.*``
  untrusted/expired-style codes c2pa counts as "valid but not trusted") is ``Valid``, anything else is c2pa's
  original state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

IDENTITY_LABEL = "cawg.identity"
TRUSTED = "signingCredential.trusted"
UNTRUSTED = "signingCredential.untrusted"
_TRUST_ONLY = frozenset({UNTRUSTED})
"""Failures after which c2pa still calls a manifest ``Valid`` (a good signature from a signer on no trust list)."""

HOW = {"cawg.x509.cose": "x509", "cawg.identity_claims_aggregation": "identity_claims_aggregation"}
"""``sig_type`` -> how the identity was verified, as the record says it."""
_UNTRUSTED_CODES = frozenset({"cawg.x509.credential.untrusted", "cawg.ica.untrusted_issuer", UNTRUSTED})
_UNVERIFIABLE_CODES = frozenset({"cawg.ica.did_unavailable"})
"""The aggregator's DID document could not be fetched (the reader fetches nothing): neither good nor bad."""


@dataclass(frozen=True)
class Identity:
    """One ``cawg.identity`` assertion of the active manifest, as the record reports it (``identities``)."""

    assertion: str
    """The assertion's label, instance suffix kept: ``cawg.identity``, ``cawg.identity__1``."""
    who: str | None
    """The identity's name: the X.509 credential's common name (else organisation), or the names an identity
    claims aggregator verified; None when the assertion names none."""
    how: str
    """``x509``, ``identity_claims_aggregation``, or the ``sig_type`` as written when it is neither."""
    status: str
    """``valid`` (signature verified, nothing failed), ``untrusted`` (signature verified, the credential is on
    no identity trust list), ``invalid`` (another failure), ``unverified`` (c2pa reported nothing on it, or could
    not fetch the aggregator's DID document)."""
    roles: tuple[str, ...] = ()
    codes: tuple[str, ...] = ()
    """The ``cawg.*`` failure codes c2pa gave this assertion, sorted."""
    issuer: str | None = None
    """Who vouches for the identity: an identity claims aggregator's DID (``did:web:...``); None for X.509."""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["roles"], data["codes"] = list(self.roles), list(self.codes)
        return data


def _entries(value: object) -> list[Mapping[str, Any]]:
    return [e for e in value if isinstance(e, Mapping)] if isinstance(value, list) else []


def _active_results(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    results = doc.get("validation_results")
    active = results.get("activeManifest") if isinstance(results, Mapping) else None
    return active if isinstance(active, Mapping) else {}


def _trusted_signatures(doc: Mapping[str, Any]) -> set[str]:
    """URLs of the claim signatures the active manifest's own results call trusted."""
    return {str(e.get("url")) for e in _entries(_active_results(doc).get("success")) if e.get("code") == TRUSTED}


def _is_identity_code(entry: Mapping[str, Any], trusted: set[str]) -> bool:
    code = str(entry.get("code") or "")
    return code.startswith("cawg.") or (code == UNTRUSTED and str(entry.get("url")) in trusted)


def manifest_codes(doc: Mapping[str, Any]) -> tuple[str, ...]:
    """The store's failure codes without the identities' (sorted, each once): what the manifest's validity is."""
    trusted = _trusted_signatures(doc)
    return tuple(
        sorted(
            {
                str(e["code"])
                for e in _entries(doc.get("validation_status"))
                if e.get("code") and not _is_identity_code(e, trusted)
            }
        )
    )


def manifest_state(doc: Mapping[str, Any], state: str | None) -> str | None:
    """c2pa's validation state (``Trusted``/``Valid``/``Invalid``) with identity failures taken out (see above)."""
    trusted = _trusted_signatures(doc)
    status = _entries(doc.get("validation_status"))
    if not any(_is_identity_code(e, trusted) for e in status):
        return state
    left = {str(e.get("code")) for e in status if not _is_identity_code(e, trusted)}
    if not left:
        return "Trusted" if trusted else "Valid"
    if left <= _TRUST_ONLY:
        return "Valid"
    return state


def identities(doc: Mapping[str, Any]) -> tuple[Identity, ...]:
    """The active manifest's ``cawg.identity`` assertions with who, how and the status c2pa's results give each."""
    manifests = doc.get("manifests")
    active = manifests.get(doc.get("active_manifest")) if isinstance(manifests, Mapping) else None
    if not isinstance(active, Mapping):
        return ()
    results = _active_results(doc)
    found = []
    for assertion in _entries(active.get("assertions")):
        label = str(assertion.get("label") or "")
        if label != IDENTITY_LABEL:
            continue
        instance = assertion.get("instance")
        key = f"{label}__{instance}" if isinstance(instance, int) and instance > 0 else label
        data = assertion.get("data")
        found.append(_identity(key, data if isinstance(data, Mapping) else {}, results))
    return tuple(found)


def _codes_for(results: Mapping[str, Any], kind: str, key: str) -> set[str]:
    suffix = f"/c2pa.assertions/{key}"
    return {
        str(e.get("code"))
        for e in _entries(results.get(kind))
        if str(e.get("url") or "").endswith(suffix) and str(e.get("code") or "").startswith("cawg.")
    }


def _identity(key: str, data: Mapping[str, Any], results: Mapping[str, Any]) -> Identity:
    signer_payload = data.get("signer_payload") or data.get("c2paAsset")  # X.509 / a decoded aggregator credential
    payload: Mapping[str, Any] = signer_payload if isinstance(signer_payload, Mapping) else {}
    sig_type = str(payload.get("sig_type") or "")
    roles = payload.get("role")
    failures = _codes_for(results, "failure", key)
    successes = _codes_for(results, "success", key)
    if failures and failures <= _UNVERIFIABLE_CODES:
        status = "unverified"
    elif failures:
        status = "untrusted" if failures <= _UNTRUSTED_CODES else "invalid"
    else:
        status = "valid" if successes else "unverified"
    return Identity(
        assertion=key,
        who=_who(data),
        how=HOW.get(sig_type, sig_type or "unknown"),
        status=status,
        roles=tuple(str(r) for r in roles if isinstance(r, str)) if isinstance(roles, list) else (),
        codes=tuple(sorted(failures)),
        issuer=data["issuer"] if isinstance(data.get("issuer"), str) else None,
    )


def _who(data: Mapping[str, Any]) -> str | None:
    """X.509: the certificate's common name, else its organisation (c2pa's ``signature_info``); an aggregator's
    credential: the names (else usernames) of its verified identities."""
    info = data.get("signature_info")
    if isinstance(info, Mapping):
        for key in ("common_name", "issuer"):
            if isinstance(info.get(key), str) and info[key].strip():
                return str(info[key]).strip()
    names = []
    for verified in _entries(data.get("verifiedIdentities")):
        name = next((str(verified[k]).strip() for k in ("name", "username") if _text(verified.get(k))), None)
        provider = verified.get("provider")
        where = provider.get("name") if isinstance(provider, Mapping) else None
        if name:
            names.append(f"{name} ({where})" if _text(where) else name)
    return ", ".join(names) or None


def _text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())
