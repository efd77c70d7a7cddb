"""Where things are, for every test whatever its folder: the checkout, the tests' own data, the spec's examples."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the checkout
TESTS = ROOT / "tests"  # the shared helpers, runners and test data (tests/fixtures, tests/oidc, tests/axe)
EXAMPLES = ROOT / "fixtures" / "examples"  # the spec's examples: drop area, EXPECTED.md
