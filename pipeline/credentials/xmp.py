"""IPTC photo metadata: ``Iptc4xmpExt:DigitalSourceType`` in an XMP packet. Pure: works on the parsed packet.

Meta and Google read this field to label AI content that carries no C2PA manifest. It is unsigned, so it can only
add an AI label (never ``captured``), and the record says the label came from it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pipeline.credentials.manifest import normalise_source_type


def xmp_source_types(packet: Any) -> list[str]:
    """Every DigitalSourceType in a packet as Pillow's ``getxmp()`` returns it (namespaces dropped), normalised."""
    found = {normalise_source_type(value) for value in _values(packet)}
    return sorted(t for t in found if t)


def _values(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "DigitalSourceType":
                yield from _leaves(value)
            else:
                yield from _values(value)
    elif isinstance(node, list):
        for item in node:
            yield from _values(item)


def _leaves(value: Any) -> Iterator[str]:
    """Attribute, element text, ``rdf:resource`` and ``rdf:Bag``/``rdf:li`` forms."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key in ("resource", "text", "li", "Bag", "Seq", "Alt"):
            if key in value:
                yield from _leaves(value[key])
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
