"""The floors hold: import-linter's contracts (.importlinter), and no SQL written outside exchange/store/."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import tokenize
from pathlib import Path

from tests.paths import ROOT

SQL = re.compile(
    r"\b(SELECT\s+\S+.*\bFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+(TABLE|INDEX)|"
    r"DROP\s+TABLE|ALTER\s+TABLE|PRAGMA\s+\w+|pg_advisory|VACUUM\b)",
    re.IGNORECASE | re.DOTALL,
)


def test_the_import_contracts_are_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(lint), "--config", str(ROOT / ".importlinter"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def _strings(path: Path) -> list[tuple[int, str]]:
    """Every string literal of a Python file (docstrings and comments are prose: comments are not tokens of
    type STRING; docstrings are skipped as the first statement of a module, class or function)."""
    found = []
    tokens = list(tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline))
    for i, tok in enumerate(tokens):
        if tok.type != tokenize.STRING:
            continue
        before = [
            t
            for t in tokens[max(0, i - 3) : i]
            if t.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT)
        ]
        if not before or before[-1].string == ":":  # a docstring
            continue
        found.append((tok.start[0], tok.string))
    return found


def test_no_sql_outside_the_store():
    outside = [
        p
        for folder in ("exchange", "jobs", "schemas")
        for p in (ROOT / folder).rglob("*.py")
        if "store" not in p.relative_to(ROOT).parts
    ]
    assert len(outside) > 50
    offending = [
        f"{p.relative_to(ROOT)}:{line}: {text[:80]}" for p in outside for line, text in _strings(p) if SQL.search(text)
    ]
    assert offending == []


def test_no_sqlalchemy_import_outside_the_store():
    pattern = re.compile(r"^\s*(import|from)\s+(sqlalchemy|alembic|psycopg)\b", re.M)
    offending = [
        str(p.relative_to(ROOT))
        for folder in ("exchange", "jobs", "schemas")
        for p in (ROOT / folder).rglob("*.py")
        if "store" not in p.relative_to(ROOT).parts and pattern.search(p.read_text(encoding="utf-8"))
    ]
    assert offending == []


def test_no_import_cycle_between_modules():
    """No module imports itself through others (imports inside functions count too)."""
    import grimp

    graph = grimp.build_graph("exchange", "jobs", "schemas")
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components, iteratively deep enough here
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.find_modules_directly_imported_by(v):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    assert cycles == []
