"""Published trust lists (ETSI TS 119 602 LoTE JSON) -> list information and a PEM bundle (pipeline.credentials.lote),
over lists testkit builds from the test CA."""

from __future__ import annotations

import datetime
import json

import pytest
from cryptography import x509

from pipeline.credentials.lote import ListInfo, looks_like_lote, parse_lote
from pipeline.credentials.trust import describe_pem
from testkit.pki import TestPKI
from testkit.trust_lists import WITHDRAWN, make_lote, service

ISSUED = datetime.datetime(2026, 11, 1, 12, 0, tzinfo=datetime.UTC)


def _roots(pki: TestPKI) -> tuple[bytes, bytes]:
    """The trusted root, and the untrusted chain's intermediate (a second, different CA certificate)."""
    other = pki.untrusted_chain_pem.split(b"-----END CERTIFICATE-----\n")[1] + b"-----END CERTIFICATE-----\n"
    return pki.root_pem, other


def test_the_list_information_and_the_certificates_in_force(pki: TestPKI) -> None:
    root, other = _roots(pki)
    data = make_lote(
        [
            ("Example Camera Co.", [service(root, history=[("http://uri.etsi.org/19602/SvcStatus/granted", "2024")])]),
            ("Withdrawn Signer Inc.", [service(other, status=WITHDRAWN)]),
        ],
        name="C2PA Trust List",
        sequence=7,
        issued=ISSUED,
        next_update=datetime.timedelta(days=30),
    )
    assert looks_like_lote(data)
    published = parse_lote(data, source="https://example.test/list.json")

    assert published.info == ListInfo(
        name="C2PA Trust List",
        sequence=7,
        issued="2026-11-01T12:00:00+00:00",
        next_update="2026-12-01T12:00:00+00:00",
        operator="C2PA (test)",
        lote_type="http://c2pa.org/TrustList/LoTEType/C2PATrustList",
        entities=2,
        certificates=1,
        ended=1,
        history=1,
        source="https://example.test/list.json",
    )
    [only] = describe_pem(published.pem, "list")
    assert only.sha256 == describe_pem(root, "root")[0].sha256  # the withdrawn service's certificate is left out
    assert published.pem.startswith(b"C2PA claim signing\n-----BEGIN CERTIFICATE-----\n")


def test_a_list_past_its_next_update_is_stale(pki: TestPKI) -> None:
    info = parse_lote(make_lote([("A", [service(pki.root_pem)])], issued=ISSUED)).info
    assert info.next_update == "2027-01-30T12:00:00+00:00"
    assert not info.stale(datetime.datetime(2027, 1, 30, 11, 59, tzinfo=datetime.UTC))
    assert info.stale(datetime.datetime(2027, 1, 30, 12, 1, tzinfo=datetime.UTC))
    assert info.to_dict(datetime.datetime(2027, 2, 1, tzinfo=datetime.UTC))["stale"] is True
    closed = parse_lote(make_lote([("A", [service(pki.root_pem)])], issued=ISSUED, next_update=None)).info
    assert closed.next_update is None and not closed.stale()


def test_the_payload_of_a_compact_jws_is_read(pki: TestPKI) -> None:
    data = make_lote([("A", [service(pki.root_pem)])], sequence=3, jws=True)
    assert looks_like_lote(data)
    assert parse_lote(data).info.sequence == 3


def test_a_pem_bundle_is_not_taken_for_a_list(pki: TestPKI) -> None:
    assert not looks_like_lote(pki.root_pem)
    assert not looks_like_lote(b"Label line\n" + pki.root_pem)


def _doc(pki: TestPKI) -> dict:
    return json.loads(make_lote([("A", [service(pki.root_pem)])]))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: d["LoTE"].pop("ListAndSchemeInformation"), "no ListAndSchemeInformation"),
        (lambda d: d["LoTE"]["ListAndSchemeInformation"].update(LoTESequenceNumber="7"), "LoTESequenceNumber"),
        (lambda d: d["LoTE"]["ListAndSchemeInformation"].update(ListIssueDateTime="yesterday"), "ListIssueDateTime"),
        (lambda d: d["LoTE"]["ListAndSchemeInformation"].update(NextUpdate="2000-01-01T00:00:00Z"), "not after"),
        (
            lambda d: d["LoTE"]["TrustedEntitiesList"][0]["TrustedEntityServices"][0]["ServiceInformation"][
                "ServiceDigitalIdentity"
            ]["X509Certificates"][0].update(val="bm90IGEgY2VydA=="),
            r"TrustedEntitiesList\[0\].TrustedEntityServices\[0\]: X509Certificates\[0\] is not a base64 DER",
        ),
        (lambda d: d["LoTE"].update(TrustedEntitiesList=[]), "lists no certificate in force"),
    ],
)
def test_a_damaged_list_is_refused_naming_the_field(pki: TestPKI, damage, message: str) -> None:
    doc = _doc(pki)
    damage(doc)
    with pytest.raises(ValueError, match=message):
        parse_lote(json.dumps(doc).encode())


def test_not_json_is_refused() -> None:
    with pytest.raises(ValueError, match="not JSON"):
        parse_lote(b"{ this is not json")


def test_the_bundle_is_what_c2pa_and_cryptography_load(pki: TestPKI) -> None:
    published = parse_lote(make_lote([("A", [service(pki.root_pem)]), ("B", [service(_roots(pki)[1])])]))
    assert len(x509.load_pem_x509_certificates(published.pem)) == 2
    assert published.names == ("A", "B")
