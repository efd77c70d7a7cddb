"""F04 (rules.md v1.1), decided in the core: which earlier reception a new copy of the same content duplicates."""

from __future__ import annotations

from exchange.core.history import duplicate_target


def _reception(file_id: int, state: str, statut: str | None, duplicate_of: int | None = None) -> dict:
    return {"id": file_id, "state": state, "statut": statut, "duplicate_of": duplicate_of}


def test_the_first_reception_with_an_accepted_record_is_the_one_duplicated():
    earlier = [
        _reception(1, "ACQUITTE", "REJETE"),
        _reception(2, "ACQUITTE", "DOUBLON", duplicate_of=3),
        _reception(3, "ACQUITTE", "PARTIEL"),
        _reception(4, "ACQUITTE", "ACCEPTE"),
    ]
    assert duplicate_target(earlier)["id"] == 3


def test_else_one_still_being_processed_but_not_a_mere_reservation():
    assert duplicate_target([_reception(1, "RECLAME", None), _reception(2, "ARCHIVE", None)])["id"] == 2
    assert duplicate_target([_reception(1, "RECLAME", None)]) is None


def test_content_rejected_whole_or_set_aside_is_judged_again():
    assert duplicate_target([_reception(1, "ACQUITTE", "REJETE"), _reception(2, "QUARANTAINE", None)]) is None
    assert duplicate_target([]) is None
