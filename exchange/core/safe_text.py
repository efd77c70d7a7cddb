"""Text made safe to write out: every control, non-XML, bidi-override or ANSI character shown as a visible escape."""

from __future__ import annotations

import re

# Characters no compte rendu, page, log or terminal may receive as they are:
# C0 controls (ESC starts ANSI sequences), DEL and C1 controls, surrogates, the XML non-characters
# U+FFFE/U+FFFF, and the bidirectional embeddings, overrides and isolates that reorder what a reader sees.
_UNSAFE = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c"
UNSAFE_KEEPING_LINES = re.compile(f"[{_UNSAFE}]")
UNSAFE_IN_LINE = re.compile(f"[{_UNSAFE}\\t\\n\\r]")


def _escape(m: re.Match[str]) -> str:
    code = ord(m.group(0))
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def safe_text(text: str, *, keep_lines: bool = False) -> str:
    """`text` with every unsafe character replaced by its escape (`\\x0b`, `\\u202e`).

    One line by default (tab, LF and CR are escaped too, so that no value forges a line of a log
    or a report); `keep_lines=True` keeps tab, LF and CR (a traceback, a multi-line report).
    """
    if text.isprintable():  # no control, format (bidi), surrogate or non-character code point: nothing to escape
        return text
    pattern = UNSAFE_KEEPING_LINES if keep_lines else UNSAFE_IN_LINE
    return pattern.sub(_escape, text)


def safe_value(value: object) -> object:
    """safe_text for strings; any other value unchanged."""
    return safe_text(value) if isinstance(value, str) else value
