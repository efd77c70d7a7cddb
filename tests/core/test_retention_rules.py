"""The retention rules, pure (exchange/core/retention.py), and the `[retention]` section of the configuration."""

from __future__ import annotations

from datetime import date

import pytest

from exchange.config import ConfigError, parse_config
from exchange.core.retention import (
    Duration,
    DurationError,
    FileFacts,
    declaration_year,
    file_due,
    output_due,
    parse_duration,
    window_open,
)


@pytest.mark.parametrize(
    "text, duration",
    [
        ("2 ans", Duration(2, "years")),
        ("1 an", Duration(1, "years")),
        ("6 mois", Duration(6, "months")),
        ("30 jours", Duration(30, "days")),
        ("1 jour", Duration(1, "days")),
        ("5y", Duration(5, "years")),
        (" 18 m ", Duration(18, "months")),
        ("90d", Duration(90, "days")),
        ("0 jours", Duration(0, "days")),
    ],
)
def test_durations_read(text, duration):
    assert parse_duration(text) == duration


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "deux ans",
            "durée illisible 'deux ans' : un entier suivi de « ans », « mois » ou « jours » est attendu "
            "(ex. « 2 ans »)",
        ),
        (
            "2 semaines",
            "durée illisible '2 semaines' : un entier suivi de « ans », « mois » ou « jours » est attendu "
            "(ex. « 2 ans »)",
        ),
        ("-1 an", "durée négative '-1 an' refusée"),
    ],
)
def test_bad_durations_are_refused(text, message):
    with pytest.raises(DurationError) as e:
        parse_duration(text)
    assert str(e.value) == message


def test_calendar_arithmetic():
    assert Duration(1, "years").after(date(2024, 2, 29)) == date(2025, 2, 28)
    assert Duration(1, "months").after(date(2025, 1, 31)) == date(2025, 2, 28)
    assert Duration(2, "years").before(date(2028, 3, 1)) == date(2026, 3, 1)
    assert Duration(1, "months").before(date(2025, 2, 28)) == date(2025, 1, 31)
    assert Duration(10, "days").before(date(2025, 3, 1)) == date(2025, 2, 19)
    assert str(Duration(1, "years")) == "1 an" and str(Duration(6, "months")) == "6 mois"


def test_the_declaration_year_and_its_window():
    assert declaration_year(date(2025, 12, 15)) == 2025
    assert declaration_year(date(2026, 2, 28)) == 2025
    assert declaration_year(date(2026, 3, 1)) == 2026
    assert window_open(2025, date(2026, 2, 28)) and not window_open(2025, date(2026, 3, 1))


def test_what_is_due_and_what_never_is():
    two_years, zero = Duration(2, "years"), Duration(0, "days")
    done = FileFacts(1, True, 2025, date(2025, 12, 15))
    # copies: from the answer, never while the window is open
    assert not file_due(done, zero, date(2026, 2, 28), from_window=False)
    assert file_due(done, zero, date(2026, 3, 1), from_window=False)
    assert not file_due(done, two_years, date(2027, 12, 14), from_window=False)
    assert file_due(done, two_years, date(2027, 12, 15), from_window=False)
    # identity: from the window's end
    assert not file_due(done, two_years, date(2028, 2, 29), from_window=True)
    assert file_due(done, two_years, date(2028, 3, 1), from_window=True)
    # not finished (not answered, or a record not emitted): never
    assert not file_due(FileFacts(2, False, 2025, date(2025, 12, 15)), zero, date(2040, 1, 1), from_window=True)
    # outputs: after they were written, never while their campaign is open
    assert not output_due(date(2026, 1, 16), 2025, zero, date(2026, 2, 1))
    assert output_due(date(2026, 1, 16), 2025, Duration(1, "years"), date(2027, 1, 16))


def test_the_retention_section_is_checked_key_by_key(tmp_path):
    cfg = parse_config({"retention": {"copies": "6 mois", "runs": "10 ans"}}, tmp_path)
    durations = cfg.retention.durations()
    assert durations["copies"] == Duration(6, "months") and durations["identity"] == Duration(2, "years")
    assert parse_config({}, tmp_path).schedule.purge == "0 4 * * *"
    for data, message in [
        ({"retention": {"copie": "1 an"}}, "clé inconnue dans la configuration : retention.copie"),
        ({"retention": {"audit": 365}}, "retention.audit: une chaîne est attendue, pas 365"),
        (
            {"retention": {"audit": "0 jours"}},
            "retention.audit: une durée nulle n'est pas permise : le journal de "
            "qui a consulté quoi doit exister (RGPD, art. 5.2)",
        ),
        (
            {"retention": {"comptes_rendus": "0 mois"}},
            "retention.comptes_rendus: une durée nulle n'est pas permise : "
            "l'Esat doit pouvoir lire le compte rendu de son dépôt",
        ),
        ({"retention": {"outputs": "-3 jours"}}, "retention.outputs: durée négative '-3 jours' refusée"),
    ]:
        with pytest.raises(ConfigError) as e:
            parse_config(data, tmp_path)
        assert str(e.value) == message
