"""CAWG identity assertions (pipeline.credentials.identity): reported in the record, never changing the manifest's
validity or its label. Real samples signed by testkit with an X.509 identity, read by c2pa; and hand-built stores for
the statuses c2pa-python 0.38 cannot produce."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipeline.adapters.credentials.isolated import IsolatedCredentialReader
from pipeline.adapters.credentials.reader import C2paCredentialReader
from pipeline.credentials.identity import identities, manifest_codes, manifest_state
from pipeline.credentials.trust import TrustFiles
from pipeline.policy import Policy, decide, load_policy
from pipeline.ports import CredentialReport
from pipeline.record import build_record, encode_record
from pipeline.settings import DEFAULT_POLICY
from testkit.media import make_jpeg
from testkit.pki import TestPKI
from testkit.signing import DIGITAL_CAPTURE, TRAINED_ALGORITHMIC_MEDIA, created, definition, sign, sign_with_identity


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(DEFAULT_POLICY)


@pytest.fixture(scope="module")
def reader(trust: TrustFiles) -> C2paCredentialReader:
    return C2paCredentialReader(trust)


def _read(reader: C2paCredentialReader, tmp_path: Path, data: bytes) -> CredentialReport:
    path = tmp_path / "asset.jpg"
    path.write_bytes(data)
    return reader.read(path)


def _capture() -> dict[str, Any]:
    return definition("Camera App", "photo.jpg", [created(DIGITAL_CAPTURE)])


def test_an_untrusted_identity_leaves_a_trusted_capture_trusted_and_captured(
    pki: TestPKI, reader: C2paCredentialReader, policy: Policy, tmp_path: Path
) -> None:
    image = make_jpeg(seed=31)
    plain = _read(reader, tmp_path, sign(pki, image, "image/jpeg", _capture()))
    with_identity = _read(reader, tmp_path, sign_with_identity(pki, image, "image/jpeg", _capture()))

    assert plain.provenance == "trusted"
    # c2pa-python 0.38 demotes the manifest to Valid for the identity's untrusted credential; the record keeps that
    # verdict (provenance) and gives the manifest's own validity beside it, which the label is decided on.
    assert (with_identity.provenance, with_identity.manifest_provenance) == ("valid", "trusted")
    assert with_identity.store is not None and plain.store is not None
    assert with_identity.store.failure_codes == plain.store.failure_codes == ()
    assert decide(with_identity, policy).label == decide(plain, policy).label == "captured"
    [identity] = with_identity.store.identities
    assert identity.to_dict() == {
        "assertion": "cawg.identity",
        "who": "media-ingest test untrusted Signer",
        "how": "x509",
        "status": "untrusted",
        "roles": ["cawg.creator"],
        "codes": ["cawg.x509.credential.untrusted"],
        "issuer": None,
    }
    assert plain.store.identities == ()


def test_the_record_reports_the_identity_beside_an_unchanged_label(
    pki: TestPKI, reader: C2paCredentialReader, policy: Policy, tmp_path: Path
) -> None:
    ai = definition("Image Generator", "gen.jpg", [created(TRAINED_ALGORITHMIC_MEDIA)])
    data = sign_with_identity(pki, make_jpeg(seed=32), "image/jpeg", ai, roles=("cawg.publisher",))
    report = _read(reader, tmp_path, data)
    record = build_record(report=report, decision=decide(report, policy), policy_version="t", duration_ms=1.0)

    assert (record.label, record.manifest_provenance, record.failures) == ("ai_generated", "trusted", [])
    assert "(trusted)" in record.explanation
    assert [(i["who"], i["how"], i["status"], i["roles"]) for i in record.identities] == [
        ("media-ingest test untrusted Signer", "x509", "untrusted", ["cawg.publisher"])
    ]
    assert '"identities":[{"assertion":"cawg.identity"' in encode_record(record.to_dict())


def test_an_untrusted_signer_stays_valid_with_its_own_failure(
    pki: TestPKI, reader: C2paCredentialReader, policy: Policy, tmp_path: Path
) -> None:
    data = sign_with_identity(pki, make_jpeg(seed=33), "image/jpeg", _capture(), trusted=False, identity_trusted=True)
    report = _read(reader, tmp_path, data)

    assert (report.provenance, report.manifest_provenance) == ("valid", None)
    assert report.store is not None
    assert report.store.failure_codes == ("signingCredential.untrusted",)
    assert decide(report, policy).label == "no_ai_declared"  # a capture needs a trusted signer, as without identity
    assert [i.status for i in report.store.identities] == ["untrusted"]


def test_the_isolated_reader_reports_the_same(pki: TestPKI, trust: TrustFiles, tmp_path: Path) -> None:
    path = tmp_path / "asset.jpg"
    path.write_bytes(sign_with_identity(pki, make_jpeg(seed=34), "image/jpeg", _capture()))
    isolated = IsolatedCredentialReader(trust, timeout=30)
    try:
        report = isolated.read(path)
    finally:
        isolated.close()
    assert (report.provenance, report.manifest_provenance) == ("valid", "trusted")
    assert report.store is not None
    assert [(i.who, i.status) for i in report.store.identities] == [("media-ingest test untrusted Signer", "untrusted")]


# --- hand-built stores: what c2pa reports in the statuses the signed samples cannot reach ---------------------------

SIG = "self#jumbf=/c2pa/urn:c2pa:1/c2pa.signature"
IDENTITY_URL = "self#jumbf=/c2pa/urn:c2pa:1/c2pa.assertions/cawg.identity"


def _doc(
    status: list[tuple[str, str]], success: list[tuple[str, str]], failure: list[tuple[str, str]]
) -> dict[str, Any]:
    def entries(pairs: list[tuple[str, str]]) -> list[dict[str, str]]:
        return [{"code": code, "url": url} for code, url in pairs]

    return {
        "active_manifest": "urn:c2pa:1",
        "manifests": {
            "urn:c2pa:1": {
                "assertions": [
                    {
                        "label": "cawg.identity",
                        "data": {
                            "issuer": "did:web:aggregator.example",
                            "c2paAsset": {"sig_type": "cawg.identity_claims_aggregation", "role": ["cawg.editor"]},
                            "verifiedIdentities": [
                                {"type": "cawg.social_media", "username": "someone", "provider": {"name": "behance"}}
                            ],
                        },
                    }
                ]
            }
        },
        "validation_status": entries(status),
        "validation_results": {"activeManifest": {"success": entries(success), "failure": entries(failure)}},
    }


def test_an_identity_that_fails_otherwise_is_invalid_and_still_not_the_manifests_failure() -> None:
    failure = [("cawg.ica.signature_mismatch", IDENTITY_URL)]
    doc = _doc(failure, [("signingCredential.trusted", SIG)], failure)

    assert manifest_state(doc, "Invalid") == "Trusted"
    assert manifest_codes(doc) == ()
    [identity] = identities(doc)
    assert (identity.who, identity.how, identity.status, identity.codes, identity.issuer, identity.roles) == (
        "someone (behance)",
        "identity_claims_aggregation",
        "invalid",
        ("cawg.ica.signature_mismatch",),
        "did:web:aggregator.example",
        ("cawg.editor",),
    )


def test_an_aggregator_whose_did_cannot_be_fetched_is_unverified() -> None:
    failure = [("cawg.ica.did_unavailable", IDENTITY_URL)]
    doc = _doc(failure, [], failure)
    assert [i.status for i in identities(doc)] == ["unverified"]
    assert manifest_state(doc, "Invalid") == "Valid"


def test_a_manifest_failure_beside_an_identity_failure_keeps_cawgs_state() -> None:
    status = [("assertion.dataHash.mismatch", SIG), ("cawg.ica.signature_mismatch", IDENTITY_URL)]
    doc = _doc(status, [("signingCredential.trusted", SIG)], status)

    assert manifest_state(doc, "Invalid") == "Invalid"
    assert manifest_codes(doc) == ("assertion.dataHash.mismatch",)


def test_without_identity_codes_c2pas_state_stands() -> None:
    doc = _doc([("signingCredential.untrusted", SIG)], [], [("signingCredential.untrusted", SIG)])

    assert manifest_state(doc, "Valid") == "Valid"
    assert manifest_codes(doc) == ("signingCredential.untrusted",)
    assert [i.status for i in identities(doc)] == ["unverified"]


def test_a_genuinely_untrusted_signer_is_not_mistaken_for_the_identitys() -> None:
    status = [("signingCredential.untrusted", SIG), ("cawg.x509.credential.untrusted", IDENTITY_URL)]
    doc = _doc(status, [], status)

    assert manifest_state(doc, "Valid") == "Valid"
    assert manifest_codes(doc) == ("signingCredential.untrusted",)
