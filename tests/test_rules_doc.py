"""The catalogue is whole (every code of rules.md) and docs/RULES.md is generated from it."""
from __future__ import annotations

from schemas.catalogue import catalogue, codes
from schemas.docs import render
from tests.conftest import ROOT


def test_catalogue_covers_every_code_of_the_spec():
    expected = ([f"F0{i}" for i in range(1, 9)] + [f"H0{i}" for i in range(1, 8)]
                + [f"R{i:02d}" for i in range(1, 12)] + [f"W{i:02d}" for i in range(1, 11)])
    assert codes() == sorted(expected)
    for r in catalogue().values():
        assert r.severity in ("BLOQUANTE", "NON_BLOQUANTE")
        assert r.message.rstrip().endswith(".") and " : " in r.message, r
        assert (r.code[0] == "W") == (r.severity == "NON_BLOQUANTE"), r


def test_rules_doc_is_up_to_date():
    assert (ROOT / "docs" / "RULES.md").read_text(encoding="utf-8") == render(), "run `make docs`"
