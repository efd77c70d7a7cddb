"""axe-core in the browser tests: inject the pinned axe (tests/axe/package-lock.json) and list its violations."""

from __future__ import annotations

from pathlib import Path

from tests.services import unavailable

AXE = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
RULES = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def violations(page) -> list[str]:  # noqa: ANN001 - a Playwright page
    """The WCAG 2.1 A/AA violations axe finds on the page as loaded, one line each (rule: nodes)."""
    if not AXE.is_file():
        unavailable(f"axe-core at {AXE} (make setup runs npm ci in tests/axe)")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))  # through the debugger: the page's CSP is left as it is
    found = page.evaluate(
        "async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}}))"
        ".violations.map(v => v.id + ' : ' + v.nodes.map(n => n.target.join(' ')).join(', '))",
        RULES,
    )
    return list(found)
