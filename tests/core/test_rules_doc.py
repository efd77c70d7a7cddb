"""The catalogue is whole (every code of rules.md) and docs/RULES.md is generated from it."""

from __future__ import annotations

from schemas.catalogue import catalogue, codes
from schemas.docs import render
from tests.conftest import ROOT


def test_catalogue_covers_every_code_of_the_spec():
    expected = (
        [f"F0{i}" for i in range(1, 9)]
        + [f"H0{i}" for i in range(1, 8)]
        + [f"R{i:02d}" for i in range(1, 12)]
        + [f"W{i:02d}" for i in range(1, 13)]
    )
    assert codes() == sorted(expected)
    for r in catalogue().values():
        assert r.severity in ("BLOQUANTE", "NON_BLOQUANTE")
        assert r.message.rstrip().endswith(".") and " : " in r.message, r
        assert (r.code[0] == "W") == (r.severity == "NON_BLOQUANTE"), r


def test_rules_doc_is_up_to_date():
    assert (ROOT / "docs" / "RULES.md").read_text(encoding="utf-8") == render(), "run `make docs`"


def test_guide_esat_is_up_to_date():
    from schemas.guide import render as render_guide

    assert (ROOT / "docs" / "guide-esat.md").read_text(encoding="utf-8") == render_guide(), "run `make docs`"


def test_guide_names_every_code_and_column_in_french():
    from schemas.declaration import CA_COLUMNS, RG_COLUMNS
    from schemas.guide import render as render_guide

    guide = render_guide()
    for code in codes():
        assert f'### <a id="code-{code.lower()}"></a>{code} — ' in guide, code
    for column in {*RG_COLUMNS, *CA_COLUMNS}:
        assert f"| `{column}` |" in guide, column
    assert "{champ}" not in guide and "{valeur}" not in guide and "{detail}" not in guide
    for words in (
        "Nommer le fichier",
        "Déposer le fichier",
        "Lire le compte rendu",
        "esat-exchange template rg",
        "enregistrez le classeur\n  au format `.xlsx`, `.ods` ou CSV",
    ):
        assert words in guide


def test_every_message_is_rendered_with_its_placeholders_filled():
    from schemas.catalogue import PLACEHOLDER

    for r in catalogue().values():
        text = r.render(champ="date_naissance", detail="précision", valeur="valeur", ligne=3)
        assert not PLACEHOLDER.search(text), r
        assert "  " not in text, r
