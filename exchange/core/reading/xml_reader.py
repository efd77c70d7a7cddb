"""Reading an XML declaration (formats.md §4) into the raw frame: guarded, streamed and validated against the XSD."""

from __future__ import annotations

import copy
import io
import re
from functools import cache
from importlib import resources

import polars as pl
from lxml import etree

from exchange.core.reading.result import ReadResult, raw_frame, refused
from exchange.core.reading.text import binary_file, empty_file, is_binary, is_blank
from exchange.core.reading.xml_errors import schema_error
from exchange.core.reading.xml_errors import syntax_error as french_syntax_error
from exchange.core.reading.xml_guard import hostile_bytes, hostile_text, xml_encoding
from schemas.anomalies import Anomaly
from schemas.declaration import MO_XML_NAMES, Kind, camel, columns

NAMESPACE = "urn:esat:declaration:v1"
Q = "{" + NAMESPACE + "}"
RECORD_TAG: dict[str, str] = {"RG": "salarie", "CA": "changement"}
HEADER_COLUMNS: dict[str, str] = {
    "siretEsat": "siret_esat",
    "finessEsat": "finess_esat",
    "anneeReference": "annee_reference",
}
MO_TAG = Q + "milieuOrdinaire"
RG_ONLY_HEADER = frozenset({"finessEsat", "anneeReference"})
CHUNK_RECORDS = 1000  # records validated together; bounds the memory a file of any size takes
# The root carries `type` (and perhaps xsi:schemaLocation and a few namespace declarations): more is a
# flood, refused before lxml copies them (copying an element's attributes takes time quadratic in their count).
MAX_ROOT_ATTRIBUTES = 16
# The root's start tag: up to the first `>` outside a quoted attribute value (possessive: one pass, no backtracking).
ROOT_START_TAG = re.compile(rb"""<[^>"']*+(?:(?:"[^"]*+"|'[^']*+')[^>"']*+)*+>""")
# Before it: white space, the XML declaration, comments, processing instructions (a DOCTYPE was refused: xml_guard).
PROLOG = re.compile(rb"(?:\s*+(?:<\?(?:[^?]++|\?(?!>))*+\?>|<!--(?:[^-]++|-(?!->))*+-->))*+\s*+")


@cache
def declaration_schema() -> etree.XMLSchema:
    """The project's XSD (schemas/declaration-v1.xsd), compiled once."""
    text = resources.files("schemas").joinpath("declaration-v1.xsd").read_bytes()
    return etree.XMLSchema(etree.fromstring(text, parser=safe_parser()))


def hardened() -> dict[str, bool]:
    """The options of every parser here: resolve nothing, fetch nothing, no DTD, libxml2's limits."""
    return {
        "resolve_entities": False,
        "no_network": True,
        "load_dtd": False,
        "dtd_validation": False,
        "huge_tree": False,
    }


def safe_parser() -> etree.XMLParser:
    """A parser that resolves nothing and fetches nothing."""
    return etree.XMLParser(**hardened())


def malformed(line: int | None, message: str) -> Anomaly:
    """F03 for a parser error: libxml2's English is translated, never shown (xml_errors)."""
    return french_syntax_error(line, message)


def invalid(line: int | None, message: str) -> Anomaly:
    """F03 with a French explanation written here (never a library's text)."""
    return Anomaly.of("F03", "xsd", detail=with_line(line, message), ligne=line or None)


def with_line(line: int | None, message: str) -> str:
    message = message.replace(Q, "").strip().rstrip(".")
    return f"ligne {line} : {message}" if line else message


def syntax_error(e: etree.XMLSyntaxError) -> Anomaly:
    """F03 for a document that does not parse, with the parser's own first error and line.

    With resolve_entities=False lxml's iterparse may raise a generic "no element found" at line 0;
    the parser's error log then holds the real cause.
    """
    logged = [x for x in e.error_log if x.level >= etree.ErrorLevels.ERROR and x.line]
    if (not e.lineno or e.msg == "no element found") and logged:
        return malformed(logged[0].line, logged[0].message)
    return malformed(e.lineno or None, (e.msg or str(e)).split(", line ")[0])


def first_schema_error(schema: etree.XMLSchema, element: etree._Element, default_line: int) -> Anomaly | None:
    """The XSD's first complaint about a (partial) declaration, or None when it is valid."""
    try:
        if schema.validate(element):
            return None
    except etree.XMLSchemaValidateError:  # e.g. an unresolved entity reference node
        return invalid(default_line, "le contenu ne peut pas être validé")
    error = next(iter(schema.error_log))
    return schema_error(error.line or default_line, error.type, error.message)


def record_columns(kind: Kind) -> dict[str, str]:
    """XML element name → column, for the children of a record (`milieuOrdinaire` apart)."""
    return {
        camel(c): c
        for c in columns(kind)
        if c not in HEADER_COLUMNS.values() and not c.endswith("_mo") and c != "cumul_milieu_ordinaire"
    }


def decode_payload(data: bytes) -> tuple[bytes, str] | Anomaly:
    """The document as UTF-8 bytes for the parser, and the encoding to report; F08 / F01 on refusal."""
    if hostile_bytes(data):
        return Anomaly.of("F08")
    found = xml_encoding(data)
    if isinstance(found, Anomaly):
        return found
    codec, bom, reported = found
    if codec == "utf-8":
        if is_binary(data):
            return binary_file()
        return data[bom:], reported
    try:
        text = data[bom:].decode(codec)
    except ValueError:  # UnicodeDecodeError, or UnicodeError from a stateful codec
        return Anomaly.of("F01", "illisible", detail=f"contenu non conforme à l'encodage {reported}")
    if hostile_text(text):
        return Anomaly.of("F08")
    if any(c in text for c in "\x00\x01\x02\x03\x04\x05\x06\x07\x08"):
        return binary_file()
    return text.encode("utf-8"), reported


def read_xml(data: bytes, kind: Kind) -> ReadResult:
    """The raw frame of an XML declaration, or the blocking anomaly that refuses it."""
    if is_blank(data):
        return refused(empty_file())
    decoded = decode_payload(data)
    if isinstance(decoded, Anomaly):
        return refused(decoded)
    payload, encoding = decoded
    if not payload.lstrip().startswith(b"<"):
        return refused(Anomaly.of("F01", "illisible", detail="le contenu n'est pas du XML"), encoding)
    etree.clear_error_log()  # lxml keeps a per-thread log that syntax errors copy from
    try:
        outcome = stream_records(payload, kind)
    except etree.XMLSyntaxError as e:
        return refused(syntax_error(e), encoding)
    except ValueError:  # libxml2 parsed a name or namespace URI that lxml will not rebuild an element with
        return refused(invalid(None, "nom d'élément ou espace de noms invalide"), encoding)
    if isinstance(outcome, Anomaly):
        return refused(outcome, encoding)
    return ReadResult(frame=outcome, anomalies=[], encoding=encoding)


def sniff_root(payload: bytes) -> etree._Element | None:
    """The root element's start tag (tag and attributes), parsed alone: the parser is given the bytes up to the
    end of that tag and nothing more, so that no fault further down can come first, whatever the lxml or libxml2
    version and however it reads ahead. None when the prolog or the tag itself does not parse (the full parse
    then reports it, with its line)."""
    prolog = PROLOG.match(payload)  # matches always (every part optional)
    tag = ROOT_START_TAG.match(payload, prolog.end() if prolog else 0)
    if tag is None:
        return None
    parser = etree.XMLPullParser(events=("start",), encoding="utf-8", **hardened())  # as the full parse reads
    try:
        parser.feed(payload[: tag.end()])
        for _, el in parser.read_events():
            return el
    except (etree.LxmlError, ValueError):  # the full parse meets it again and reports it
        return None
    return None


def stream_records(payload: bytes, kind: Kind) -> pl.DataFrame | Anomaly:
    """Parse, validate chunk by chunk, and gather the records; an Anomaly on the first fault.

    Each direct child of the root is moved, once parsed, into a small stand-in `declaration` (the
    root's tag and attributes, the header elements, at most CHUNK_RECORDS records) that the XSD
    validates; its nodes keep their source lines, so the XSD's line is the file's. Only records and
    header elements raise events; anything else at their level is moved along with the next one.
    An element is moved at the next event (or once the parse is over), not at its own: the text after
    it may not be fully parsed yet (the parser reads 32 KiB at a time), and libxml2 goes on appending
    to that text node as if it were still in place, writing into freed memory (a long stray text
    between elements hung the reader or aborted the process).

    The root is checked (check_root) before anything else is: on its start tag, parsed alone before the
    document (sniff_root), so a wrong root wins over any fault after its start tag. Only when the prolog or
    that tag does not parse alone is it checked at the first event instead (whose element's parent it is),
    and the parse's fault wins.
    """
    schema = declaration_schema()
    first = sniff_root(payload)
    if first is not None and (refusal := check_root(first, kind, schema)) is not None:
        return refusal
    record_tag = Q + RECORD_TAG[kind]
    other_tag = Q + RECORD_TAG["CA" if kind == "RG" else "RG"]
    header_tags = {Q + name: col for name, col in HEADER_COLUMNS.items()}
    misplaced = {other_tag} | ({Q + n for n in RG_ONLY_HEADER} if kind == "CA" else set())
    by_tag = {Q + name: col for name, col in record_columns(kind).items()}
    mo_by_tag = {Q + name: col for name, col in MO_XML_NAMES.items()}
    record_cols = [c for c in columns(kind) if c not in HEADER_COLUMNS.values()]
    records: list[dict[str, str | None]] = []  # each record's values by column, for the current chunk
    lignes: list[int] = []
    pieces: list[pl.DataFrame] = []  # one raw frame per chunk: Python strings never outlive their chunk
    seen_record = False
    header: list[etree._Element] = []
    constants: dict[str, str | None] = {}
    chunk: etree._Element | None = None
    in_chunk = 0
    root: etree._Element | None = None
    pending: etree._Element | None = None  # the last child of the root reported, not moved yet

    def new_chunk(root: etree._Element) -> etree._Element:
        stand_in = etree.Element(root.tag, attrib=dict(root.attrib), nsmap=root.nsmap)
        stand_in.sourceline = root.sourceline
        stand_in.text = root.text
        for h in header:
            stand_in.append(copy.deepcopy(h))
        return stand_in

    def flush() -> Anomaly | None:
        """Move the element left pending (the text after it is fully parsed now), and whatever unwatched
        siblings precede it, out of the growing document into the chunk; validate the chunk when that
        completes it (in_chunk counts the records reported, moved or pending)."""
        nonlocal pending, chunk, in_chunk
        if pending is None:
            return None
        assert chunk is not None and root is not None  # both exist once an element is pending
        prev = pending.getprevious()
        if prev is not None:  # unwatched siblings (rare): moved first, in document order
            skipped = []
            while prev is not None:
                skipped.append(prev)
                prev = prev.getprevious()
            for other in reversed(skipped):
                chunk.append(other)
        chunk.append(pending)
        pending = None
        if in_chunk < CHUNK_RECORDS:
            return None
        refusal = first_schema_error(schema, chunk, root.sourceline)
        if refusal is not None:
            return refusal
        chunk, in_chunk = new_chunk(root), 0
        pieces.append(records_frame(kind, lignes, records, record_cols, constants))
        lignes.clear()
        records.clear()
        return None

    events = etree.iterparse(
        io.BytesIO(payload),
        events=("end",),
        tag=[record_tag, *header_tags, *misplaced],
        encoding="utf-8",
        remove_comments=True,
        remove_pis=True,
        **hardened(),
    )
    try:
        for _, el in events:
            if pending is not None and (refusal := flush()) is not None:  # the parser is past its tail
                return refusal
            parent = el.getparent()
            if parent is None or parent.getparent() is not None:
                continue  # not a child of the root: the XSD judges it with its ancestor
            if root is None:
                root = parent
                if first is None and (refusal := check_root(root, kind, schema)) is not None:
                    return refusal
                chunk = new_chunk(root)
            pending = el
            tag = el.tag
            if tag == record_tag:
                seen_record = True
                lignes.append(el.sourceline)
                records.append(extract(el, by_tag, mo_by_tag, kind))
                in_chunk += 1
            elif tag in misplaced:
                return invalid(
                    el.sourceline, f"l'élément {tag[len(Q) :]} n'est pas attendu dans une déclaration de type {kind}"
                )
            elif not seen_record:
                header.append(el)
                constants[header_tags[tag]] = el.text
    except (etree.LxmlError, ValueError):
        if (refusal := flush()) is not None:  # the parse has stopped: a chunk it completed is judged first
            return refusal
        raise
    if root is None:
        root = events.root
        if first is None and (refusal := check_root(root, kind, schema)) is not None:
            return refusal
        chunk = new_chunk(root)
    if (refusal := flush()) is not None:
        return refusal
    assert chunk is not None
    for rest in list(root):
        chunk.append(rest)
    chunk.text = root.text
    refusal = first_schema_error(schema, chunk, root.sourceline)
    if refusal is not None:
        return refusal
    if not seen_record:
        return Anomaly.of("F01", "sans_enregistrement")
    if lignes:
        pieces.append(records_frame(kind, lignes, records, record_cols, constants))
    return pl.concat(pieces, rechunk=False) if len(pieces) > 1 else pieces[0]


def record_constants(kind: Kind, constants: dict[str, str | None]) -> dict[str, str | None]:
    """The header values copied onto every record (a CA carries no FINESS nor reference year)."""
    if kind == "CA":
        return {k: v for k, v in constants.items() if k not in ("finess_esat", "annee_reference")}
    return constants


def check_root(root: etree._Element, kind: Kind, schema: etree.XMLSchema) -> Anomaly | None:
    """A root that is not our `declaration` (the XSD's message), or whose `type` is not the name's."""
    attributes, namespaces = len(root.attrib), len(root.nsmap)
    if attributes > MAX_ROOT_ATTRIBUTES or namespaces > MAX_ROOT_ATTRIBUTES:
        what = f"{attributes} attributs" if attributes > MAX_ROOT_ATTRIBUTES else f"{namespaces} espaces de noms"
        return invalid(
            root.sourceline,
            f"l'élément racine porte {what} (au plus {MAX_ROOT_ATTRIBUTES} ; seul l'attribut type est attendu)",
        )
    if root.tag != Q + "declaration":
        stand_in = etree.Element(root.tag, attrib=dict(root.attrib))
        stand_in.sourceline = root.sourceline
        return first_schema_error(schema, stand_in, root.sourceline) or invalid(
            root.sourceline, "l'élément racine doit être declaration"
        )
    found = root.get("type")
    if found is not None and found.strip() != kind:
        return Anomaly.of("F03", "type", detail=found.strip() or "vide", ligne=root.sourceline)
    return None


def extract(
    record: etree._Element, by_tag: dict[str, str], mo_by_tag: dict[str, str], kind: Kind
) -> dict[str, str | None]:
    """One record's values by column (an absent element has no entry)."""
    found: dict[str, str | None] = {}
    cumul = False
    for child in record:
        tag = child.tag
        col = by_tag.get(tag)
        if col is not None:
            found[col] = child.text
        elif tag == MO_TAG:
            cumul = True
            for sub in child:
                mo = mo_by_tag.get(sub.tag)
                if mo is not None:
                    found[mo] = sub.text
    if kind == "RG":
        found["cumul_milieu_ordinaire"] = "O" if cumul else "N"
    return found


def records_frame(
    kind: Kind,
    lignes: list[int],
    records: list[dict[str, str | None]],
    record_cols: list[str],
    constants: dict[str, str | None],
) -> pl.DataFrame:
    """The raw frame of a chunk of extracted records (None where a record lacks an element)."""
    values = {c: [r.get(c) for r in records] for c in record_cols}
    return raw_frame(kind, lignes, values, record_constants(kind, constants))
