"""Before any XML parser runs: the document's encoding, and the refusal of DTDs, entities and external references."""

from __future__ import annotations

import codecs
import re
from functools import cache

from lxml import etree

from exchange.core.reading.text import UTF8_BOM, WIDE_BOMS
from schemas.anomalies import Anomaly

# `<!` followed by a letter opens a markup declaration (DOCTYPE, ENTITY, ELEMENT, ATTLIST,
# NOTATION): none belongs in a declaration file. Comments (`<!--`) and CDATA (`<![`) do not match.
# XInclude and stylesheet processing instructions are external references.
_FORBIDDEN = r"<!\s*[A-Za-z]|XInclude|<\?\s*xml-stylesheet"
FORBIDDEN_BYTES = re.compile(_FORBIDDEN.encode())
FORBIDDEN_TEXT = re.compile(_FORBIDDEN)
MARKERS = (b"<!", b"XInclude", b"xml-stylesheet")  # cheap first look: the pattern needs one

# UTF-16/32 without a byte order mark, recognised by how `<?` or `<` is encoded (XML 1.0 appendix F).
WIDE_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<\x00?", "utf-16-be"),
    (b"<\x00?\x00", "utf-16-le"),
)
DECLARED = re.compile(rb"""^\s*<\?xml\s[^>]*?encoding\s*=\s*["']([A-Za-z][A-Za-z0-9._:-]*)["']""")


def hostile_bytes(data: bytes) -> bool:
    """True when the raw bytes hold a DTD, an entity or an external reference, in any Unicode form.

    Scans the bytes as they are (ASCII-compatible encodings) and with NUL bytes removed (UTF-16/32).
    """
    if any(m in data for m in MARKERS) and FORBIDDEN_BYTES.search(data):
        return True
    if b"\x00" not in data:
        return False
    narrow = data.replace(b"\x00", b"")
    return any(m in narrow for m in MARKERS) and FORBIDDEN_BYTES.search(narrow) is not None


def hostile_text(text: str) -> bool:
    """The same check on the decoded document."""
    return FORBIDDEN_TEXT.search(text) is not None


def xml_encoding(data: bytes) -> tuple[str, int, str] | Anomaly:
    """(Python codec, length of the byte order mark to skip, name to report), or F01 if unsupported.

    Order of XML 1.0 appendix F: a byte order mark, then the UTF-16/32 signatures, then the
    encoding declared in `<?xml … ?>`; UTF-8 by default.
    """
    if data.startswith(UTF8_BOM):
        return "utf-8", len(UTF8_BOM), "utf-8-sig"
    for bom, enc in WIDE_BOMS:
        if data.startswith(bom):
            return enc, len(bom), enc
    for signature, enc in WIDE_SIGNATURES:
        if data.startswith(signature):
            return enc, 0, enc
    m = DECLARED.match(data[:512])
    if m is None:
        return "utf-8", 0, "utf-8"
    declared = m[1].decode("ascii")
    try:
        info = codecs.lookup(declared)
    except LookupError:
        return Anomaly.of("F01", "illisible", detail=f"encodage « {declared} » inconnu")
    name = info.name
    if not is_character_encoding(info, declared):
        return Anomaly.of("F01", "illisible", detail=f"« {declared} » n'est pas un encodage de caractères accepté")
    if name.startswith(("utf-16", "utf-32")) or name in ("utf-8", "utf-8-sig"):
        # No UTF-16/32 signature was found: the bytes are ASCII-compatible, read them as UTF-8.
        return "utf-8", 0, "utf-8"
    return name, 0, "windows-1252" if name == "cp1252" else name


def is_character_encoding(info: codecs.CodecInfo, declared: str) -> bool:
    """True for a real character set: a Python text codec that libxml2 also knows by that name.

    Python's codec registry also holds bytes-to-bytes transforms (base64, hex, zlib, bz2, uu,
    quopri, rot13: `_is_text_encoding` false) and text codecs that are not character sets
    (punycode, idna, unicode_escape, undefined): an XML declaration naming one is refused, as a
    conforming XML processor refuses an encoding it does not support.
    """
    if not getattr(info, "_is_text_encoding", True):
        return False
    if info.name.startswith(("utf-8", "utf-16", "utf-32")):
        return True
    return _libxml2_knows(declared) or _libxml2_knows(info.name)


@cache
def _libxml2_knows(name: str) -> bool:
    """Whether libxml2 (with its iconv) parses a document declaring this encoding."""
    probe = f'<?xml version="1.0" encoding="{name}"?><a/>'.encode("ascii", "replace")
    try:
        etree.fromstring(probe, etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))
    except etree.XMLSyntaxError:
        return False
    return True
