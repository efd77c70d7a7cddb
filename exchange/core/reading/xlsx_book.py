"""The .xlsx package read into the workbook model, streaming: sheets in tab order, shared strings kept compact,
number formats, rows as stored (hidden flag, every cell whatever <dimension> says), merged ranges."""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
from array import array
from collections.abc import Iterator
from itertools import chain

from lxml import etree

from exchange.core.reading.workbook import (
    BOOLEAN,
    ERROR,
    MAX_CELL_CHARS,
    MAX_COLUMNS,
    NUMBER,
    TEXT,
    UNCACHED,
    BookError,
    BookTooLarge,
    Bounds,
    Cell,
    CellCount,
    Merge,
    MergeFill,
    Row,
    Sheet,
    column_index,
    local,
    member_chunks,
    parse_streamed,
)

PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
CELL_REF = re.compile(r"^([A-Z]{1,3})([0-9]+)$")
RANGE_REF = re.compile(rb"^([A-Z]{1,3})([0-9]{1,7}):([A-Z]{1,3})([0-9]{1,7})$")
# A merged range as the sheet lists it, after its rows (`<mergeCell ref="A2:A5"/>`, any namespace prefix), every
# repetition bounded so that no crafted run of unclosed tags makes the scan quadratic.
MERGE_CELL = re.compile(rb"<(?:[A-Za-z_][\w.-]{0,64}:)?mergeCell\b[^>]{0,1024}?\bref=\"([^\"]{0,64})\"")
SMALL_PART = 8 << 20  # workbook.xml, styles and relationships are read whole up to this size


def _parser() -> etree.XMLParser:
    """No entity is ever expanded, nothing fetched, no DTD loaded (formats.md: the same guards as XML)."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


class Strings:
    """The shared-string table, compact: every entry's UTF-8 bytes in one buffer and their ends in an array
    (a list of two million short str objects took 390 MB; this takes the text's size plus 4 bytes each)."""

    def __init__(self) -> None:
        self.text = bytearray()
        self.ends = array("Q")

    def append(self, value: str) -> None:
        self.text += value.encode("utf-8", "surrogatepass")
        self.ends.append(len(self.text))

    def __len__(self) -> int:
        return len(self.ends)

    def __getitem__(self, index: int) -> str:
        start = self.ends[index - 1] if index > 0 else 0
        return bytes(self.text[start : self.ends[index]]).decode("utf-8", "surrogatepass")


class StringsTarget:
    """Parser target filling Strings from `<si>` items (`<t>` runs, phonetic `<rPh>` runs left out)."""

    def __init__(self, strings: Strings, bounds: Bounds) -> None:
        self.strings = strings
        self.bounds = bounds
        self.parts: list[str] = []
        self.size = 0
        self.in_t = self.in_rph = 0
        self.names: dict[str, str] = {}

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        name = self.names.get(tag) or self.names.setdefault(tag, local(tag))
        if name == "si":
            self.parts = []
            self.size = 0
        elif name == "t":
            self.in_t += 1
        elif name == "rPh":
            self.in_rph += 1

    def data(self, text: str) -> None:
        if self.in_t and not self.in_rph:
            self.size += len(text)
            if self.size > MAX_CELL_CHARS:
                raise BookTooLarge("textes", f"un texte de plus de {MAX_CELL_CHARS} caractères")
            self.parts.append(text)

    def end(self, tag: str) -> None:
        name = self.names[tag]
        if name == "t":
            self.in_t -= 1
        elif name == "rPh":
            self.in_rph -= 1
        elif name == "si":
            self.strings.append(unescape("".join(self.parts)))
            if len(self.strings) > self.bounds.strings:
                raise BookTooLarge("textes", f"plus de {self.bounds.strings} textes")
            if len(self.strings.text) > self.bounds.string_bytes:
                raise BookTooLarge("textes", f"plus de {self.bounds.string_bytes} octets de texte")

    def close(self) -> None:
        return None

    def drain(self) -> list[Row]:
        return []


class SheetTarget:
    """Parser target turning `<row>`/`<c>` events into rows of the model, one cell at a time (no tree)."""

    def __init__(self, book: XlsxBook, count: CellCount) -> None:
        self.book = book
        self.count = count
        self.done: list[Row] = []
        self.row: Row | None = None
        self.previous_row = 0
        self.at = -1
        self.cell: dict[str, str] | None = None
        self.value: list[str] | None = None
        self.inline: list[str] = []
        self.formula = False
        self.size = 0
        self.in_v = self.in_t = self.in_is = self.in_rph = 0
        self.names: dict[str, str] = {}

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        name = self.names.get(tag) or self.names.setdefault(tag, local(tag))
        if name == "c":
            count = self.count
            count.seen += 1
            if count.seen > count.limit:
                count.add(0)
            self.cell = attrib
            self.value = None
            self.inline = []
            self.formula = False
            self.size = 0
        elif name == "row":
            number = _int(attrib.get("r"), self.previous_row + 1)
            self.previous_row = number
            self.row = Row(number, attrib.get("hidden") in ("1", "true"), {})
            self.at = -1
        elif self.cell is not None:
            if name == "v":
                self.in_v += 1
                self.value = self.value or []
            elif name == "f":
                self.formula = True
            elif name == "is":
                self.in_is += 1
            elif name == "t":
                self.in_t += 1
            elif name == "rPh":
                self.in_rph += 1

    def data(self, text: str) -> None:
        if self.cell is None:
            return
        if self.in_v and self.value is not None:
            self.value.append(text)
        elif self.in_is and self.in_t and not self.in_rph:
            self.inline.append(text)
        else:
            return
        self.size += len(text)
        if self.size > MAX_CELL_CHARS:
            raise BookTooLarge("textes", f"un texte de plus de {MAX_CELL_CHARS} caractères")

    def end(self, tag: str) -> None:
        name = self.names[tag]
        if name == "c" and self.cell is not None:
            attrib, self.cell = self.cell, None
            ref = CELL_REF.match(attrib.get("r") or "")
            self.at = column_index(ref.group(1)) if ref else self.at + 1
            if self.at >= MAX_COLUMNS:
                raise BookError(f"une cellule est au-delà de la dernière colonne ({attrib.get('r')})")
            cell = self.book.cell(attrib, self.value, "".join(self.inline) if self.inline else None, self.formula)
            if cell is not None and self.row is not None:
                self.row.cells[self.at] = cell
        elif name == "row" and self.row is not None:
            self.done.append(self.row)
            self.row = None
        elif name == "v":
            self.in_v -= 1
        elif name == "is":
            self.in_is -= 1
        elif name == "t":
            self.in_t -= 1
        elif name == "rPh":
            self.in_rph -= 1

    def close(self) -> None:
        return None

    def drain(self) -> list[Row]:
        done, self.done = self.done, []
        return done


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text else default
    except ValueError:
        return default


def unescape(text: str) -> str:
    return text.replace("_x000D_", "\r").replace("_x000A_", "\n").replace("_x0009_", "\t")


class XlsxBook:
    """An opened .xlsx package: its worksheets in tab order, shared strings, number formats and epoch."""

    def __init__(self, data: bytes, bounds: Bounds) -> None:
        self.bounds = bounds
        self.archive = zipfile.ZipFile(io.BytesIO(data))
        names = set(self.archive.namelist())
        self.names = names
        workbook = self._root("xl/workbook.xml")
        rels = self._rels("xl/workbook.xml")
        self.date1904 = any(local(e.tag) == "workbookPr" and e.get("date1904") in ("1", "true") for e in workbook)
        self.sheets: list[Sheet] = []
        for e in workbook.iter("{*}sheet"):
            rid = next((v for k, v in e.attrib.items() if k.endswith("}id")), "")  # transitional or strict OOXML
            target = rels.get(rid)
            if target and target[1].endswith("/worksheet") and target[0] in names:
                self.sheets.append(Sheet(e.get("name") or "", target[0]))
        styles = next((t for t, kind in rels.values() if kind.endswith("/styles")), "xl/styles.xml")
        self.formats = self._formats(styles) if styles in names else []
        strings = next((t for t, kind in rels.values() if kind.endswith("/sharedStrings")), "xl/sharedStrings.xml")
        self.strings = Strings()
        if strings in names:
            fill = StringsTarget(self.strings, bounds)
            for _ in parse_streamed(member_chunks(self.archive, strings, bounds), fill, f"sa partie {strings}"):
                pass
        self.merges: dict[str, list[Merge]] = {}

    def close(self) -> None:
        self.archive.close()

    def _root(self, member: str) -> etree._Element:
        """A small part (workbook, styles, relationships) parsed whole, its inflation counted and bounded."""
        body = b"".join(member_chunks(self.archive, member, self.bounds))
        if len(body) > SMALL_PART:
            raise BookTooLarge("classeur", f"{SMALL_PART} octets pour la partie {member}")
        if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
            raise BookError("il contient une déclaration DOCTYPE ou une entité, interdites")
        try:
            return etree.fromstring(body, _parser())
        except etree.XMLSyntaxError as e:
            raise BookError(f"sa partie {member} est illisible") from e

    def _rels(self, part: str) -> dict[str, tuple[str, str]]:
        """Relationship id → (archive member, type) for a part."""
        folder, name = posixpath.split(part)
        member = posixpath.join(folder, "_rels", name + ".rels")
        if member not in self.names:
            return {}
        out: dict[str, tuple[str, str]] = {}
        for e in self._root(member).iter(f"{{{PKG_REL_NS}}}Relationship", "{*}Relationship"):
            target = e.get("Target") or ""
            path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
            out[e.get("Id") or ""] = (path, e.get("Type") or "")
        return out

    def _formats(self, member: str) -> list[str]:
        """The number format code of each cell style (cellXfs order)."""
        from openpyxl.styles.numbers import BUILTIN_FORMATS

        root = self._root(member)
        custom = {_int(e.get("numFmtId"), -1): e.get("formatCode") or "General" for e in root.iter("{*}numFmt")}
        out: list[str] = []
        for xfs in root.iter("{*}cellXfs"):
            for xf in xfs:
                if local(xf.tag) == "xf":
                    fid = _int(xf.get("numFmtId"), 0)
                    out.append(custom.get(fid) or BUILTIN_FORMATS.get(fid, "General"))
        return out

    def _merges(self, sheet: Sheet) -> list[Merge]:
        """The sheet's merged ranges, found by one streamed scan (they follow the rows in the part)."""
        if sheet.member in self.merges:
            return self.merges[sheet.member]
        found: list[Merge] = []
        tail = b""
        for chunk in chain(member_chunks(self.archive, sheet.member, self.bounds), [None]):
            text = tail + chunk if chunk is not None else tail
            limit = max(len(text) - 2048, 0) if chunk is not None else len(text)  # a tag cut by a chunk: next time
            for m in MERGE_CELL.finditer(text):
                if m.start() >= limit:
                    break
                r = RANGE_REF.match(m.group(1))
                if r:
                    cols = sorted((column_index(r.group(1).decode()), column_index(r.group(3).decode())))
                    rows = sorted((int(r.group(2)), int(r.group(4))))
                    found.append(Merge(rows[0], cols[0], rows[1], cols[1]))
                    if len(found) > self.bounds.cells:
                        raise BookTooLarge("cellules", f"plus de {self.bounds.cells} cellules fusionnées")
            tail = text[limit:]
        found.sort(key=lambda m: m.first_row)
        self.merges[sheet.member] = found
        return found

    def rows(self, sheet: Sheet) -> Iterator[Row]:
        """The stored rows of a sheet in order, whatever its <dimension> says, merged ranges read in each cell."""
        merges = self._merges(sheet) if sheet.member in self.names else []
        count = CellCount(self.bounds, sheet.name)
        fill = MergeFill(count)
        for m in merges:
            fill.add(m)
        target = SheetTarget(self, count)
        chunks = member_chunks(self.archive, sheet.member, self.bounds)
        try:
            for row in parse_streamed(chunks, target, f"sa feuille « {sheet.name} »"):
                yield fill.fill(row)
        finally:
            count.close()

    def cell(self, attrib: dict[str, str], v: list[str] | None, inline: str | None, formula: bool) -> Cell | None:
        """One stored cell as the model holds it (None for an empty one)."""
        kind = attrib.get("t") or "n"
        style = _int(attrib.get("s"), 0)
        fmt = self.formats[style] if 0 <= style < len(self.formats) else "General"
        value = None if v is None else "".join(v)
        if kind == "inlineStr":
            return Cell(TEXT, unescape(inline), fmt) if inline else None
        if kind == "s":
            if not value:
                return None
            index = _int(value.strip(), -1)
            return Cell(TEXT, self.strings[index] if 0 <= index < len(self.strings) else "", fmt)
        if kind == "str":
            # A formula's cached text: present-but-empty (`<v></v>`, `=SI(L6="";"";…)`) is an empty cell (v1.3);
            # only a formula with no <v> at all has no cached value.
            if value is None and formula:
                return Cell(UNCACHED, None, fmt)
            return Cell(TEXT, unescape(value), fmt) if value else None
        if kind == "b":
            if value is None:
                return Cell(UNCACHED, None, fmt) if formula else None
            return Cell(BOOLEAN, value.strip() in ("1", "true"), fmt)
        if kind == "e":
            return Cell(ERROR, value or "#N/A", fmt)
        if kind == "d":
            return Cell(TEXT, value[:10], fmt) if value else None
        if not value:  # a number formula with no value, or an empty <v></v> (openpyxl writes so): never computed
            return Cell(UNCACHED, None, fmt) if formula else None
        try:
            return Cell(NUMBER, float(value), fmt)
        except ValueError:
            return Cell(TEXT, value, fmt)
