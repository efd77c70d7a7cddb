"""A number format code (Excel's, Calc's, Gnumeric's, or the one an .ods data style stands for) read the way the
program shows a number through it: the section that applies, then date, percentage or zero padding."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from decimal import ROUND_HALF_UP, Decimal

# Identifiers typed as numbers read as their integer digits, left-padded to the field's length (§3.0).
IDENTIFIER_WIDTH: dict[str, int] = {
    "siret_esat": 14,
    "siret_employeur_mo": 14,
    "finess_esat": 9,
    "nir": 0,
    "numero_allocataire": 0,
}
# Columns where a zero-padding number format reads as shown (v1.2): identifiers and codes.
PADDED_COLUMNS = frozenset({*IDENTIFIER_WIDTH, "code_caf"})
# Literal text, escapes and bracketed parts (a locale `[$-40C]`, a colour `[Rouge]`, a condition `[<0]`).
QUOTED = re.compile(r'"[^"]*"|\\.|\[[^\]]*\]')
CONDITION = re.compile(r"\[(<=|>=|<>|<|>|=)\s*(-?[0-9]+(?:[.,][0-9]+)?)\]")
PADDING = re.compile(r"^0+$")


def sections(fmt: str) -> list[str]:
    """A format's `;`-separated sections (a `;` inside quotes or escaped is text)."""
    out, current, quoted, escaped = [], [], False, False
    for ch in fmt:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            current.append(ch)
            escaped = True
        elif ch == '"':
            current.append(ch)
            quoted = not quoted
        elif ch == ";" and not quoted:
            out.append("".join(current))
            current = []
        else:
            current.append(ch)
    out.append("".join(current))
    return out


def _holds(condition: re.Match[str], value: float) -> bool:
    op, limit = condition.group(1), float(condition.group(2).replace(",", "."))
    return {
        "<": value < limit,
        ">": value > limit,
        "<=": value <= limit,
        ">=": value >= limit,
        "=": value == limit,
        "<>": value != limit,
    }[op]


def section_for(fmt: str, value: float) -> str:
    """The section of a format that shows `value`: by its conditions when it has some (`[<0]…;…`), else the
    positive;negative;zero rule."""
    parts = sections(fmt)
    conditioned = [(CONDITION.search(p), p) for p in parts]
    if any(c for c, _ in conditioned):
        for c, p in conditioned:
            if c is not None and _holds(c, value):
                return p
        rest = [p for c, p in conditioned if c is None]
        return rest[0] if rest else parts[-1]
    if len(parts) >= 3 and value == 0:
        return parts[2]
    if len(parts) >= 2 and value < 0:
        return parts[1]
    return parts[0]


def plain(section: str) -> str:
    """A section without its literal text, escapes and bracketed parts."""
    return QUOTED.sub("", section).strip()


def is_percent(fmt: str, value: float = 0.0) -> bool:
    return "%" in plain(section_for(fmt, value))


def padding_width(fmt: str, value: float = 0.0) -> int:
    """The width a zero-padding format (`00`, `[$-40C]0000000`) shows an integer with; 0 for any other."""
    bare = plain(section_for(fmt, value)).lstrip("-")
    return len(bare) if PADDING.match(bare) else 0


def is_date(fmt: str) -> bool:
    from openpyxl.styles.numbers import is_date_format

    return fmt not in ("General", "@") and is_date_format(QUOTED.sub("", sections(fmt)[0]) or fmt)


def number_text(value: float) -> str:
    """The shortest decimal that gives back a float (`862.35`), without exponent or trailing zeros."""
    if float(value).is_integer():
        return str(int(value))
    return format(Decimal(repr(value)), "f")


def decimals(fmt: str, value: float = 0.0) -> int:
    """How many decimals the section showing `value` has (`0.00 %` → 2, `0%` → 0)."""
    bare = plain(section_for(fmt, value))
    if "." not in bare:
        return 0
    return sum(1 for ch in bare.split(".", 1)[1] if ch in "0#?")


def percent_text(value: float, places: int | None = None) -> str:
    """A fraction shown as a percentage, as the program shows it: rounded half away from zero to the format's
    decimals (0.857142… in `0 %` → `86`), then without trailing zeros (0.8 → `80`, 0.625 in `0.0%` → `62.5`)."""
    shown = Decimal(repr(float(value))) * 100
    if places is not None:
        shown = shown.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    text = format(shown.normalize(), "f")
    return text[:-2] if text.endswith(".0") else text


def cell_text(value: object, column: str | None, fmt: str = "General", date1904: bool = False) -> str | None:
    """A cell as the text the record rules read: what the spreadsheet shows (formats.md §3.0, v1.2, v1.3)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "VRAI" if value else "FAUX"
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, (int, float)):
        number = float(value)
        if fmt not in ("General", "@"):
            if is_percent(fmt, number):
                return percent_text(number, decimals(fmt, number))
            if is_date(fmt):
                from openpyxl.utils.datetime import MAC_EPOCH, WINDOWS_EPOCH, from_excel

                try:
                    moment = from_excel(number, MAC_EPOCH if date1904 else WINDOWS_EPOCH)
                except (ValueError, OverflowError):
                    return number_text(number)
                return cell_text(moment, column)
            width = padding_width(fmt, number)
            if width and column in PADDED_COLUMNS and number.is_integer() and number >= 0:
                return str(int(number)).zfill(max(width, IDENTIFIER_WIDTH.get(column, 0)))
        if column in IDENTIFIER_WIDTH and number.is_integer():
            return str(int(number)).zfill(IDENTIFIER_WIDTH[column])
        return number_text(number)
    return str(value)
