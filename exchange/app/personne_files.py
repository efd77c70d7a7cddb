"""Where one NIR still stands in the files the service keeps on its own disk (`personne`): every received copy
in `[storage] dir` and every Caf output file in `[output] dir`, known to the ledger or not.

The ledger's identity may have been purged before the copies (`copies` longer than `identity`): only the files
themselves can then say whom they concern. Each file is searched as text for the NIR's 13 characters
(spaces allowed between them, any key or none after), inside the members of a workbook (XLSX, ODS: zip)
too; a Parquet output file by its `nir` column.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from exchange.config import Config

SEPARATORS = rb"[ \t\xa0.\-]*"  # what a spreadsheet or a clerk may put between a NIR's digits
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


@dataclass(frozen=True)
class HeldFile:
    """One file on disk that holds the NIR: its folder kind (stockage, sortie), its path relative to that
    folder's root, and the account (or Caf) folder it lies in."""

    where: str
    path: str
    folder: str


def nir_pattern(nir13: str) -> re.Pattern[bytes]:
    """The NIR's 13 characters as they may be written in a file: separators allowed, not inside a longer run."""
    body = SEPARATORS.join(re.escape(c.encode()) for c in nir13)
    return re.compile(rb"(?<![0-9A-Za-z])" + body + rb"(?:" + SEPARATORS + rb"[0-9]{2})?(?![0-9A-Za-z])", re.I)


def _texts(data: bytes, most: int) -> list[bytes]:
    """The file as searchable text: itself, its UTF-16 decoded to UTF-8, or each member of a zip (a workbook),
    read up to `most` bytes in all (a zip bomb is not unpacked past it)."""
    if data[:2] in UTF16_BOMS:
        try:
            return [data.decode("utf-16").encode()]
        except UnicodeDecodeError:
            return [data]
    if not data.startswith(b"PK"):
        return [data]
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            out, left = [], most
            for info in z.infolist():
                if left <= 0:
                    break
                with z.open(info) as member:
                    chunk = member.read(left)
                left -= len(chunk)
                out.append(chunk)
            return out
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError):
        return [data]


def _parquet_holds(path: Path, nir13: str) -> bool:
    try:
        nirs = pl.read_parquet(path, columns=["nir"])["nir"]
    except Exception:  # noqa: BLE001 - an unreadable or foreign Parquet file is searched as bytes instead
        return bool(nir_pattern(nir13).search(path.read_bytes()))
    cleaned = nirs.cast(pl.String).str.replace_all(r"\s", "").str.to_uppercase().str.slice(0, 13)
    return bool((cleaned == nir13).any())


def _holds(path: Path, nir13: str, most: int) -> bool:
    if path.suffix == ".parquet":
        return _parquet_holds(path, nir13)
    pattern = nir_pattern(nir13)
    return any(pattern.search(text) for text in _texts(path.read_bytes(), most))


def _files(root: Path) -> list[tuple[str, Path]]:
    """(first folder, file) for every regular file two levels below root (<account or Caf>/<file>)."""
    try:
        folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith("."))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [
        (folder.name, p)
        for folder in folders
        for p in sorted(folder.iterdir())
        if p.is_file() and not p.is_symlink() and not p.name.startswith(".")
    ]


def files_holding(config: Config, nir13: str) -> list[HeldFile]:
    """Every received copy and Caf output file on disk that holds the NIR (its first 13 characters)."""
    most = config.limits.max_file_bytes * 20
    held = [
        HeldFile("stockage", f"{folder}/{p.name}", folder)
        for folder, p in _files(config.storage_dir)
        if _holds(p, nir13, most)
    ]
    held += [
        HeldFile("sortie", f"{folder}/{p.name}", folder)
        for folder, p in _files(config.output_dir)
        if p.name.startswith("AAH-ESAT_") and not p.name.endswith(".manifest.json") and _holds(p, nir13, most)
    ]
    return held


__all__ = ["HeldFile", "files_holding", "nir_pattern"]
