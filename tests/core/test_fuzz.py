"""Fuzz of the readers and of `check` (issue 10): mutated declarations never give a traceback, a hang,
an invalid compte rendu, an unsafe character or a quoted NIR; `check` exits 0, 1 or 2.

`make test` runs a bounded number of cases (the `ci` profile); `make fuzz` runs the campaign profile
(ESAT_FUZZ_PROFILE=campagne). See docs/fuzzing.md."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixtures.fuzz import check_command, csv_declarations, exercise, xml_declarations

COMMON = {"deadline": None, "suppress_health_check": list(HealthCheck), "print_blob": True}
settings.register_profile("ci", max_examples=int(os.environ.get("ESAT_FUZZ_EXAMPLES", "150")), **COMMON)
settings.register_profile("campagne", max_examples=int(os.environ.get("ESAT_FUZZ_EXAMPLES", "3000")), **COMMON)
PROFILE = settings.get_profile(os.environ.get("ESAT_FUZZ_PROFILE", "ci"))


@PROFILE
@given(csv_declarations)
def test_fuzz_csv_declarations(case):
    exercise(*case)


@PROFILE
@given(xml_declarations)
def test_fuzz_xml_declarations(case):
    exercise(*case)


@settings(PROFILE, max_examples=max(10, PROFILE.max_examples // 4))
@given(csv_declarations | xml_declarations, st.sampled_from(["text", "csv", "json"]))
def test_fuzz_check_command_exits_0_1_or_2(case, fmt):
    check_command(*case, fmt)
