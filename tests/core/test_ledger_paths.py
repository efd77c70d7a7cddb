"""Ledger paths resolved against today's roots (issue 32): nothing outside a configured folder is ever reached;
and the NIR as `personne` looks for it in a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from exchange.app.personne_files import nir_pattern
from exchange.core.ledger_paths import stored_name, under_root

ROOT = Path("/srv/esat/stockage")


@pytest.mark.parametrize(
    "recorded, expected",
    [
        ("esat-seine/ab12.csv", ROOT / "esat-seine" / "ab12.csv"),
        (stored_name("esat-seine", "ab12.csv"), ROOT / "esat-seine" / "ab12.csv"),
        ("/srv/esat/stockage/esat-seine/ab12.csv", ROOT / "esat-seine" / "ab12.csv"),  # not converted, yet inside
        ("/srv/esat/original/esat-seine/ab12.csv", None),  # another deployment's folder: never reached
        ("/srv/esat/stockage-bis/esat-seine/ab12.csv", None),  # a sibling sharing the root's prefix
        ("/srv/esat/stockage/../original/esat-seine/ab12.csv", None),
        ("esat-seine/../../original/ab12.csv", None),
        ("../ab12.csv", None),
        ("", None),
        (None, None),
    ],
)
def test_a_recorded_path_is_reached_only_inside_today_s_root(recorded, expected):
    assert under_root(ROOT, recorded) == expected


@pytest.mark.parametrize(
    "text, found",
    [
        (b"81234567600017;292027512345620;Lef", True),
        (b"81234567600017;2920275123456;Lef", True),  # declared without key
        (b"81234567600017;292027512345699;Lef", True),  # declared with a wrong key
        (b"<c>2 92 02 75 123 456 20</c>", True),  # with its spaces
        (b"<v>2920275123456201</v>", False),  # a longer number that merely starts like it
        (b";12920275123456;", False),  # inside a longer run
        (b";292027512345720;", False),
    ],
)
def test_the_nir_is_found_in_a_file_with_or_without_key_and_spaces(text, found):
    assert bool(nir_pattern("2920275123456").search(text)) is found
