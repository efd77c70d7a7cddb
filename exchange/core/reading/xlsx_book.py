"""The parts of an .xlsx package a declaration needs, parsed directly: sheets in order, their rows as stored
(hidden flag, every cell whatever <dimension> says), each cell's value, type and number format."""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

from lxml import etree

from exchange.errors import TerminalError

PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
CELL_REF = re.compile(r"^([A-Z]{1,3})([0-9]+)$")
# Cell kinds as read from the sheet: a number (with its format), a text, a boolean, an error, a formula
# with no cached value.
NUMBER, TEXT, BOOLEAN, ERROR, UNCACHED = "n", "s", "b", "e", "f"


@dataclass(frozen=True)
class Cell:
    """One stored cell: its kind, its raw value (a float for numbers, a str otherwise) and number format."""

    kind: str
    value: float | str | bool | None
    format: str = "General"


@dataclass(frozen=True)
class Row:
    """One stored row: its number in the sheet, whether it is hidden, its cells by 0-based column index."""

    number: int
    hidden: bool
    cells: dict[int, Cell]


@dataclass(frozen=True)
class Sheet:
    """A worksheet's name and the archive member holding it."""

    name: str
    member: str


class BookError(TerminalError):
    """The package is not a workbook this reader can open (a missing or malformed part): the reader answers the
    file F-coded; should one escape, only this file is set aside (terminal, does not stop the run)."""

    stops_run = False


def _parser() -> etree.XMLParser:
    """No entity is ever expanded, nothing fetched, no DTD loaded (formats.md: the same guards as XML)."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def _root(archive: zipfile.ZipFile, member: str) -> etree._Element:
    try:
        body = archive.read(member)
    except KeyError as e:
        raise BookError(f"il lui manque la partie {member}") from e
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise BookError("il contient une déclaration DOCTYPE ou une entité, interdites")
    try:
        return etree.fromstring(body, _parser())
    except etree.XMLSyntaxError as e:
        raise BookError(f"sa partie {member} est illisible") from e


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def column_index(letters: str) -> int:
    """'A' → 0, 'Z' → 25, 'AA' → 26."""
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n - 1


def column_letter(index: int) -> str:
    """0 → 'A', 26 → 'AA'."""
    out = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        out = chr(65 + rest) + out
    return out


class Book:
    """An opened .xlsx package: its worksheets in tab order, shared strings, number formats and epoch."""

    def __init__(self, data: bytes) -> None:
        self.archive = zipfile.ZipFile(io.BytesIO(data))
        names = set(self.archive.namelist())
        workbook = _root(self.archive, "xl/workbook.xml")
        rels = self._rels("xl/workbook.xml")
        self.date1904 = any(_local(e.tag) == "workbookPr" and e.get("date1904") in ("1", "true") for e in workbook)
        self.sheets: list[Sheet] = []
        for e in workbook.iter("{*}sheet"):
            rid = next((v for k, v in e.attrib.items() if k.endswith("}id")), "")  # transitional or strict OOXML
            target = rels.get(rid)
            if target and target[1].endswith("/worksheet") and target[0] in names:
                self.sheets.append(Sheet(e.get("name") or "", target[0]))
        styles = next((t for t, kind in rels.values() if kind.endswith("/styles")), "xl/styles.xml")
        self.formats = self._formats(styles) if styles in names else []
        strings = next((t for t, kind in rels.values() if kind.endswith("/sharedStrings")), "xl/sharedStrings.xml")
        self.strings = self._strings(strings) if strings in names else []

    def close(self) -> None:
        self.archive.close()

    def _rels(self, part: str) -> dict[str, tuple[str, str]]:
        """Relationship id → (archive member, type) for a part."""
        folder, name = posixpath.split(part)
        member = posixpath.join(folder, "_rels", name + ".rels")
        if member not in self.archive.namelist():
            return {}
        out: dict[str, tuple[str, str]] = {}
        for e in _root(self.archive, member).iter(f"{{{PKG_REL_NS}}}Relationship", "{*}Relationship"):
            target = e.get("Target") or ""
            path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
            out[e.get("Id") or ""] = (path, e.get("Type") or "")
        return out

    def _formats(self, member: str) -> list[str]:
        """The number format code of each cell style (cellXfs order)."""
        from openpyxl.styles.numbers import BUILTIN_FORMATS

        root = _root(self.archive, member)
        custom = {int(e.get("numFmtId") or -1): e.get("formatCode") or "General" for e in root.iter("{*}numFmt")}
        out: list[str] = []
        for xfs in root.iter("{*}cellXfs"):
            for xf in xfs:
                if _local(xf.tag) == "xf":
                    fid = int(xf.get("numFmtId") or 0)
                    out.append(custom.get(fid) or BUILTIN_FORMATS.get(fid, "General"))
        return out

    def _strings(self, member: str) -> list[str]:
        root = _root(self.archive, member)
        return [_text(si) for si in root if _local(si.tag) == "si"]

    def rows(self, sheet: Sheet) -> Iterator[Row]:
        """The stored rows of a sheet in order, whatever its <dimension> says."""
        try:
            stream = self.archive.open(sheet.member)
        except KeyError as e:
            raise BookError(f"sa feuille « {sheet.name} » est absente") from e
        head = stream.peek(4096) if hasattr(stream, "peek") else b""
        if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
            raise BookError("il contient une déclaration DOCTYPE ou une entité, interdites")
        previous = 0
        try:
            for _, row in etree.iterparse(
                stream,
                events=("end",),
                tag="{*}row",
                resolve_entities=False,
                no_network=True,
                load_dtd=False,
                huge_tree=False,
            ):
                number = int(row.get("r") or previous + 1)
                previous = number
                hidden = row.get("hidden") in ("1", "true")
                cells: dict[int, Cell] = {}
                at = -1
                for c in row:
                    if _local(c.tag) != "c":
                        continue
                    ref = CELL_REF.match(c.get("r") or "")
                    at = column_index(ref.group(1)) if ref else at + 1
                    cell = self._cell(c)
                    if cell is not None:
                        cells[at] = cell
                row.clear()
                while row.getprevious() is not None:
                    del row.getparent()[0]
                yield Row(number, hidden, cells)
        except etree.XMLSyntaxError as e:
            raise BookError(f"sa feuille « {sheet.name} » est illisible") from e
        finally:
            stream.close()

    def _cell(self, c: etree._Element) -> Cell | None:
        kind = c.get("t") or "n"
        style = int(c.get("s") or 0)
        fmt = self.formats[style] if 0 <= style < len(self.formats) else "General"
        v = f = None
        inline = None
        for child in c:
            name = _local(child.tag)
            if name == "v":
                v = child.text
            elif name == "f":
                f = child
            elif name == "is":
                inline = _text(child)
        if kind == "inlineStr":
            return Cell(TEXT, inline or "", fmt) if inline else None
        if kind == "s":
            if v is None:
                return None
            index = int(v)
            return Cell(TEXT, self.strings[index] if 0 <= index < len(self.strings) else "", fmt)
        if kind == "str":
            if v is None and f is not None:
                return Cell(UNCACHED, None, fmt)
            return Cell(TEXT, v or "", fmt) if v else None
        if kind == "b":
            return (
                Cell(BOOLEAN, v == "1", fmt)
                if v is not None
                else (Cell(UNCACHED, None, fmt) if f is not None else None)
            )
        if kind == "e":
            return Cell(ERROR, v or "#N/A", fmt)
        if kind == "d":
            return Cell(TEXT, (v or "")[:10], fmt) if v else None
        if v is None or v == "":
            return Cell(UNCACHED, None, fmt) if f is not None else None
        try:
            return Cell(NUMBER, float(v), fmt)
        except ValueError:
            return Cell(TEXT, v, fmt)


def _text(node: etree._Element) -> str:
    """The text of a rich or plain string item (<t> runs, phonetic runs left out)."""
    parts: list[str] = []
    for t in node.iter("{*}t"):
        if any(_local(a.tag) == "rPh" for a in t.iterancestors()):
            continue
        parts.append(t.text or "")
    return "".join(parts).replace("_x000D_", "\r").replace("_x000A_", "\n").replace("_x0009_", "\t")
