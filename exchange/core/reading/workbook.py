"""The one workbook model the .xlsx and .ods readers both fill: sheets, stored rows (hidden flag), cells by kind,
value and number format, merged ranges read in each cell; and the bounds every workbook is read within."""

from __future__ import annotations

import zipfile
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from lxml import etree

from exchange.errors import TerminalError
from schemas.declaration import RG_COLUMNS

# Cell kinds: a number (with its format), a text, a boolean, an error, a formula with no cached value.
NUMBER, TEXT, BOOLEAN, ERROR, UNCACHED = "n", "s", "b", "e", "f"
EXPANSION_FACTOR = 20  # a workbook may inflate to at most max_file_bytes × 20 (formats.md §3.0)
# Reading a workbook meets a sheet's cells more than once (the header looked for on each sheet, the table read,
# later sheets checked, an .ods parsed from its start for each of its tables): all passes together meet at most
# this many times a sheet's bound, so many sheets of empty cells cost no more than a few full sheets.
WORKBOOK_PASSES = 3
MAX_COLUMNS = 16_384  # Excel's and Calc's widest sheet (XFD): a cell further right is not a spreadsheet's
MAX_CELL_CHARS = 32_767  # the most a cell of Excel holds; Calc's own cells stay within it too
CHUNK = 1 << 16  # bytes inflated and given to the parser at a time


@dataclass(frozen=True)
class Cell:
    """One cell: its kind, its value (a float for numbers, a str otherwise) and its number format code."""

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
    """A worksheet's name and where the book finds it (an archive member, or its position)."""

    name: str
    member: str


@dataclass(frozen=True)
class Merge:
    """A merged range, 1-based rows and 0-based columns, both ends included."""

    first_row: int
    first_col: int
    last_row: int
    last_col: int


class BookError(TerminalError):
    """The package is not a workbook this reader can open (a missing or malformed part): F01 for this file."""

    stops_run = False


class BookTooLarge(TerminalError):
    """The workbook passes one of its bounds (F07, variant and detail): reading stops where it is seen."""

    stops_run = False

    def __init__(self, variant: str, detail: str) -> None:
        super().__init__(detail)
        self.variant = variant
        self.detail = detail


@dataclass
class Bounds:
    """What one workbook may hold, from the service's limits, and what reading it has used so far."""

    inflated_bytes: int  # every byte inflated from the archive, all parts and passes together
    cells: int  # cells stored in one sheet (empty styled ones included), merged copies included
    strings: int  # shared-string entries
    string_bytes: int  # their total UTF-8 size
    inflated: int = field(default=0)
    cells_met: int = field(default=0)  # cells met over every pass on every sheet (WORKBOOK_PASSES × cells at most)

    @classmethod
    def of(cls, max_file_bytes: int, max_records: int) -> Bounds:
        """A workbook of at most max_file_bytes: as much text as such a CSV holds, as many cells and strings
        as max_records records of §3.1 fill, and max_file_bytes × 20 inflated."""
        per_record = len(RG_COLUMNS)
        return cls(
            inflated_bytes=max_file_bytes * EXPANSION_FACTOR,
            cells=max(max_records, 1) * per_record + 1000,
            strings=max(max_records, 1) * per_record + 1000,
            string_bytes=max_file_bytes,
        )

    def count_inflated(self, size: int) -> None:
        self.inflated += size
        if self.inflated > self.inflated_bytes:
            raise BookTooLarge("classeur", f"{self.inflated_bytes} octets")


class Workbook(Protocol):
    """What the reading rules see of a workbook, whichever program saved it and in which format."""

    sheets: list[Sheet]
    date1904: bool

    def rows(self, sheet: Sheet) -> Iterator[Row]: ...

    def close(self) -> None: ...


def member_chunks(archive: zipfile.ZipFile, member: str, bounds: Bounds) -> Iterator[bytes]:
    """An archive member inflated CHUNK bytes at a time, each counted against the workbook's bound."""
    try:
        stream = archive.open(member)
    except KeyError as e:
        raise BookError(f"il lui manque la partie {member}") from e
    with stream:
        while chunk := stream.read(CHUNK):
            bounds.count_inflated(len(chunk))
            yield chunk


class Target(Protocol):
    """An lxml parser target that also hands over what it completed (rows, strings) since the last call."""

    def start(self, tag: str, attrib: dict[str, str]) -> None: ...

    def end(self, tag: str) -> None: ...

    def data(self, text: str) -> None: ...

    def close(self) -> None: ...

    def drain(self) -> list[Row]: ...


def parse_streamed(chunks: Iterator[bytes], target: Target, where: str) -> Iterator[Row]:
    """Feed a part to a tree-less lxml parser (SAX-like target) chunk by chunk, handing over each completed
    row as soon as its chunk is parsed: memory holds one chunk and the rows it completed, never a tree.
    No entity is expanded, nothing fetched, no DTD loaded; a DTD or entity declaration anywhere in the part is
    F01 (conservatively, even inside a comment)."""
    parser = etree.XMLParser(
        target=target, resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, recover=False
    )
    tail = b""
    try:
        for chunk in chunks:
            seen = tail + chunk  # a declaration cut between two chunks is still seen
            if b"<!DOCTYPE" in seen or b"<!ENTITY" in seen:
                raise BookError("il contient une déclaration DOCTYPE ou une entité, interdites")
            tail = chunk[-16:]
            parser.feed(chunk)
            yield from target.drain()
            if getattr(target, "finished", False):
                return
        parser.close()
        yield from target.drain()
    except etree.XMLSyntaxError as e:
        raise BookError(f"{where} est illisible") from e


def local(tag: object) -> str:
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


class CellCount:
    """The cells one pass over a sheet has met, against the sheet's bound and what is left of the workbook's
    (all passes together); `close` adds the pass's cells to the workbook's."""

    def __init__(self, bounds: Bounds, sheet: str) -> None:
        self.bounds = bounds
        self.sheet = sheet
        self.seen = 0
        self.limit = min(bounds.cells, WORKBOOK_PASSES * bounds.cells - bounds.cells_met)

    def add(self, n: int = 1) -> None:
        self.seen += n
        if self.seen > self.limit:
            if self.seen > self.bounds.cells:
                raise BookTooLarge("cellules", f"plus de {self.bounds.cells} cellules sur la feuille « {self.sheet} »")
            raise BookTooLarge("cellules", f"plus de {WORKBOOK_PASSES * self.bounds.cells} cellules dans le classeur")

    def close(self) -> None:
        self.bounds.cells_met += self.seen
        self.seen = 0


class MergeFill:
    """Merged ranges read in each of their cells (v1.3): the top-left cell's value copied into every cell of
    the range, in the rows the sheet stores. The same for both formats. Ranges are given in order of their first
    row (an .xlsx lists them after its rows, so they are found first; an .ods gives each at its top-left cell);
    each range costs one cell of the bound for every row it covers, so no crafted set of ranges costs more work
    than the sheet's cell bound allows."""

    def __init__(self, count: CellCount) -> None:
        self.waiting: deque[Merge] = deque()
        self.active: list[Merge] = []
        self.source: dict[Merge, Cell] = {}
        self.count = count

    def add(self, merge: Merge) -> None:
        if merge.last_row > merge.first_row or merge.last_col > merge.first_col:
            self.count.add()
            self.waiting.append(merge)

    def fill(self, row: Row) -> Row:
        while self.waiting and self.waiting[0].first_row <= row.number:
            merge = self.waiting.popleft()
            if merge.last_row >= row.number:
                self.active.append(merge)
        if not self.active:
            return row
        keep: list[Merge] = []
        for m in self.active:
            if row.number > m.last_row:
                self.source.pop(m, None)
                continue
            keep.append(m)
            self.count.add()
            if row.number == m.first_row and m.first_col in row.cells:
                self.source[m] = row.cells[m.first_col]
            cell = self.source.get(m)
            if cell is None:
                continue
            for col in range(m.first_col, min(m.last_col, MAX_COLUMNS - 1) + 1):
                if col not in row.cells or row.cells[col].value in (None, ""):
                    row.cells[col] = cell
                    self.count.add()
        self.active = keep
        return row
