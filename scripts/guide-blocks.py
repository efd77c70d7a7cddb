"""Print the shell blocks of docs/operations.md marked `<!-- MARK -->` (or `<!-- MARK: name -->`), in order.

`python3 scripts/guide-blocks.py image-test` prints the container commands `make image-test` runs;
tests/system/test_operations_guide.py reads the `guide-test` blocks the same way (exchange-free: stdlib only)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "operations.md"


def blocks(mark: str, text: str | None = None) -> list[tuple[str, str]]:
    """(name, shell text) of every ```sh block right after a `<!-- mark -->` or `<!-- mark: name -->` line."""
    text = GUIDE.read_text(encoding="utf-8") if text is None else text
    pattern = re.compile(
        r"^<!-- " + re.escape(mark) + r"(?::\s*(?P<name>[\w-]+))? -->\n```sh\n(?P<body>.*?)^```$", re.M | re.S
    )
    return [(m.group("name") or "", m.group("body")) for m in pattern.finditer(text)]


if __name__ == "__main__":
    for name, body in blocks(sys.argv[1]):
        print(f"# --- {name or '(bloc)'}")
        print(body, end="")
