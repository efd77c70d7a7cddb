"""`status` reads every depot/ in one pass (LocalTransport.depot_snapshot): the same counts as account by account;
links and folders in a depot/ are never counted as waiting (a collect leaves them in place)."""

from __future__ import annotations

import os

from exchange.app.depot_watch import one_by_one
from exchange.app.status import depot_listing
from exchange.edges.transport.local import LocalTransport


def _account(root, name, *, files=(), retour="dir", archive="dir", depot="dir"):  # noqa: ANN001, ANN202
    base = root / name
    base.mkdir()
    for folder, kind in (("depot", depot), ("retour", retour), ("archive", archive)):
        path = base / folder
        if kind == "dir":
            path.mkdir()
        elif kind == "link":
            (root / f"elsewhere-{name}-{folder}").mkdir()
            path.symlink_to(root / f"elsewhere-{name}-{folder}")
        elif kind == "file":
            path.write_text("x")
    for f in files:
        if depot == "dir" or depot == "link":
            (base / "depot" / f).write_text("declaration")
    return base


def test_the_one_pass_listing_counts_what_list_depot_counts(tmp_path):
    root = tmp_path / "drop"
    root.mkdir()
    _account(root, "vide")
    _account(root, "deux", files=("a.csv", "b.xml"))
    _account(root, "en-cours", files=(".cache", "c.csv.part"))
    _account(root, "retour-lien", files=("a.csv",), retour="link")
    _account(root, "retour-lien-vide", retour="link")
    _account(root, "archive-fichier", files=("a.csv",), archive="file")
    _account(root, "sans-retour", files=("a.csv",), retour=None)
    _account(root, "depot-lien", files=("a.csv",), depot="link")
    _account(root, "depot-fichier", depot="file")
    _account(root, "sans-depot", depot=None)
    linked = _account(root, "lien-dans-depot", files=("a.csv",))
    (linked / "depot" / "lien.csv").symlink_to(linked / "depot" / "a.csv")
    (linked / "depot" / "dossier").mkdir()
    (root / "un-fichier").write_text("x")
    os.symlink(root / "deux", root / "compte-lien")
    transport = LocalTransport(root)
    with transport as t:
        assert set(t.depot_snapshot()) == set(t.accounts())
        slow = one_by_one(t)
    fast = depot_listing(transport)
    counts = {a: (sum(1 for x in e if x.regular) if e is not None else 0) for a, e in slow.items()}
    assert fast[0] == counts
    assert counts["deux"] == 2 and counts["retour-lien"] == 0 and counts["archive-fichier"] == 0
    assert counts["lien-dans-depot"] == 1 and counts["sans-retour"] == 1  # the link and the folder never wait
    waiting = sorted((a, e.name) for a, entries in slow.items() if entries for e in entries if e.regular)
    assert sorted((w["compte"], w["fichier"]) for w in fast[1]) == waiting


def test_is_safe_name_refuses_separators_dot_dot_and_control_characters():
    import random

    from exchange.edges.transport.base import is_safe_name

    def reference(name: str) -> bool:  # the rule as first written, one character at a time
        if not name or name in (".", "..") or "/" in name or "\\" in name or ".." in name:
            return False
        return not any(ord(c) < 32 or ord(c) == 127 for c in name)

    rng = random.Random(14)
    alphabet = [*map(chr, range(0, 130)), ".", "/", "\\", "é", "\u202e", "\u0085"]
    names = ["", ".", "..", "a..b", "...", ".cache", "a.b", "esat-01-0001"]
    names += ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 6))) for _ in range(20000)]
    assert [is_safe_name(n) for n in names] == [reference(n) for n in names]


def test_safe_text_fast_path_never_skips_an_unsafe_character():
    import sys

    from exchange.core.safe_text import UNSAFE_IN_LINE, UNSAFE_KEEPING_LINES, safe_text

    # every code point that str.isprintable() lets through untouched is one neither pattern would escape
    printable = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isprintable()]
    assert not any(UNSAFE_IN_LINE.search(c) or UNSAFE_KEEPING_LINES.search(c) for c in printable)
    assert safe_text("a\u202eb\tc") == "a\\u202eb\\x09c" and safe_text("é ü ß 中") == "é ü ß 中"
    assert safe_text("ligne\nsuivante", keep_lines=True) == "ligne\nsuivante"
