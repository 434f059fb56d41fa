"""Altcraft's two wire formats, both ways: JSON, and XML with an `<xml>` root.

A request in XML has one element per field (`<xml><matching>email</matching>…</xml>`); a
response in XML puts each list item in its own element named after the list (`<data>…</data>`,
once per item) ahead of the plain fields, as the seed shows. XML is parsed with defusedxml and
no DTD at all: no entity is ever expanded and nothing external is ever fetched.

Pure: bytes in, fields out (and back); no web framework, no database.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from decimal import Decimal
from enum import StrEnum
from typing import Any

import orjson
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from tierbook.api.dialects.common import clean_text, plain
from tierbook.domain.errors import InvalidInput

MAX_DEPTH = 16
MAX_INT = 2**63 - 1
XML_MEDIA = frozenset({"application/xml", "text/xml"})
JSON_MEDIA = "application/json"


class Format(StrEnum):
    JSON = "json"
    XML = "xml"


def media_type(content_type: str) -> str:
    return content_type.partition(";")[0].strip().lower()


def request_format(content_type: str, body: bytes) -> Format:
    """XML for an XML media type, JSON for a JSON one; otherwise what the body looks like."""
    media = media_type(content_type)
    if media in XML_MEDIA or media.endswith("+xml"):
        return Format.XML
    if media == JSON_MEDIA or media.endswith("+json"):
        return Format.JSON
    return Format.XML if body.lstrip().startswith(b"<") else Format.JSON


def parse_format(text: str | None) -> Format | None:
    """`?format=`: `xml` or `json` (any case); absent is None."""
    if text is None:
        return None
    try:
        return Format(text.strip().lower())
    except ValueError:
        raise InvalidInput("format must be xml or json", field="format") from None


def response_format(format_param: str | None, content_type: str) -> Format:
    """For an error response, where the request may not have been read: never raises."""
    try:
        chosen = parse_format(format_param)
    except InvalidInput:
        chosen = None
    return chosen or request_format(content_type, b"")


# -- reading ------------------------------------------------------------------------------------


def _checked(value: Any, field: str, depth: int = 0) -> Any:
    """The value, refused where no store could keep it (NUL, huge numbers, deep nesting)."""
    if isinstance(value, str):
        return clean_text(value, field, max_length=10_000)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        if not -MAX_INT <= value <= MAX_INT:
            raise InvalidInput(f"{field}: integer out of range", field=field)
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput(f"{field}: numbers must be finite", field=field)
        return value
    if depth >= MAX_DEPTH:
        raise InvalidInput(f"{field}: nested more than {MAX_DEPTH} levels deep", field=field)
    if isinstance(value, dict):
        return {
            clean_text(k, field): _checked(v, f"{field}.{k}", depth + 1) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_checked(v, f"{field}[{i}]", depth + 1) for i, v in enumerate(value)]
    raise InvalidInput(f"{field}: unexpected value", field=field)  # pragma: no cover


def _from_json(body: bytes) -> dict[str, Any]:
    try:
        loaded = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"body: malformed JSON ({exc})", field="body") from None
    if not isinstance(loaded, dict):
        raise InvalidInput("body: send a JSON object of parameters", field="body")
    return {clean_text(k, "body"): _checked(v, k) for k, v in loaded.items()}


def _element(node: ET.Element, field: str, depth: int) -> Any:
    children = list(node)
    if not children:
        return clean_text((node.text or "").strip(), field, max_length=10_000)
    if depth >= MAX_DEPTH:
        raise InvalidInput(f"{field}: nested more than {MAX_DEPTH} levels deep", field=field)
    out: dict[str, Any] = {}
    for child in children:
        name = child.tag if isinstance(child.tag, str) else ""
        path = f"{field}.{name}" if field else name
        if name in out:
            raise InvalidInput(f"{path} is given more than once", field=path)
        out[name] = _element(child, path, depth + 1)
    return out


def _from_xml(body: bytes) -> dict[str, Any]:
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise InvalidInput(
            f"body: XML with a DTD, entities or external references is refused ({exc})",
            field="body",
        ) from None
    except ET.ParseError as exc:
        raise InvalidInput(f"body: malformed XML ({exc})", field="body") from None
    if root.tag != "xml":
        raise InvalidInput(f"body: the root element must be <xml>, not <{root.tag}>", field="body")
    fields = _element(root, "", 0)
    return fields if isinstance(fields, dict) else {}


def decode(body: bytes, fmt: Format) -> dict[str, Any]:
    """The request's parameters, by name."""
    if not body.strip():
        raise InvalidInput("body: send the request's parameters", field="body")
    return _from_xml(body) if fmt is Format.XML else _from_json(body)


# -- writing ------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return plain(value)
    return str(value)


def _fill(parent: ET.Element, fields: Mapping[str, Any]) -> None:
    # Lists first (one element per item), then the plain fields in order: the seeds' layout.
    lists = [(k, v) for k, v in fields.items() if isinstance(v, list)]
    rest = [(k, v) for k, v in fields.items() if not isinstance(v, list)]
    for name, items in lists:
        for item in items:
            _put(parent, name, item)
    for name, value in rest:
        _put(parent, name, value)


def _put(parent: ET.Element, name: str, value: Any) -> None:
    node = ET.SubElement(parent, name)
    if isinstance(value, Mapping):
        _fill(node, value)
    else:
        node.text = _text(value)


def encode_xml(fields: Mapping[str, Any]) -> bytes:
    root = ET.Element("xml")
    _fill(root, fields)
    return ET.tostring(root, encoding="unicode").encode()
