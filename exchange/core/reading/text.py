"""Byte-level checks shared by both readers: emptiness, binary content, unsupported Unicode forms."""

from __future__ import annotations

from schemas.anomalies import Anomaly

UTF8_BOM = b"\xef\xbb\xbf"
# Byte order marks of the UTF-16/32 forms, longest first (UTF-32-LE starts like UTF-16-LE).
WIDE_BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
# C0 control bytes that no text declaration holds (tab, LF, VT, FF, CR and SUB are tolerated).
BINARY_BYTES = bytes([*range(0x00, 0x09), *range(0x0E, 0x1A), *range(0x1B, 0x20)])
SCAN_STEP = 1 << 20  # is_binary deletes from copies of at most this many bytes


def wide_bom(data: bytes) -> str | None:
    """The UTF-16/32 form announced by the data's byte order mark, if any."""
    return next((enc for bom, enc in WIDE_BOMS if data.startswith(bom)), None)


def is_blank(data: bytes) -> bool:
    """True for 0 bytes, or only a UTF-8 BOM and white space."""
    body = data[len(UTF8_BOM) :] if data.startswith(UTF8_BOM) else data
    return not body.strip(b" \t\r\n\x0b\x0c\x1a")


def is_binary(data: bytes) -> bool:
    """True when the bytes hold NUL or other control bytes that no text file holds."""
    for start in range(0, len(data), SCAN_STEP):  # bytes.translate: several times faster than BINARY.search
        piece = data[start : start + SCAN_STEP]
        if len(piece.translate(None, BINARY_BYTES)) != len(piece):
            return True
    return False


def empty_file() -> Anomaly:
    return Anomaly.of("F01", "vide")


def binary_file() -> Anomaly:
    return Anomaly.of("F01", "binaire")
