"""Build steps that pyproject.toml cannot declare: the console's design system (DSFR) goes inside the package.

The project's metadata is in pyproject.toml. This file adds one thing to setuptools' `build_py` and `sdist`:
the DSFR's built assets (the `dist/` of `@gouvfr/dsfr`, the version pinned with its integrity in
exchange/web/package-lock.json) are copied into `exchange/web/dsfr/` of the wheel and of the sdist, so that
an installed `esat-exchange web` serves them without a checkout's `node_modules` (exchange/web/app.py looks
there first). Only what the console serves is copied (SELECTION), with the DSFR's licence and a
PROVENANCE.json naming the version and integrity it came from.

Where the assets come from:
- building from a checkout: `npm ci` of exchange/web/package.json and package-lock.json, run in
  build/dsfr-npm/ (npm checks the tarball against the lock's sha512 integrity), reused while the lock is
  unchanged;
- building the wheel from the sdist (what `python -m build` does): the sdist already holds
  exchange/web/dsfr/, checked against the lock it ships with; npm is not needed.
An editable install (`uv sync`, `pip install -e`) copies nothing: a checkout serves its node_modules.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = Path(__file__).resolve().parent
WEB = HERE / "exchange" / "web"
PACKAGE = "@gouvfr/dsfr"
# What the console's pages load (templates/base.html) and what those stylesheets load in turn
# (dsfr.min.css: fonts/; utility/utility.min.css: ../icons/): tests/system/test_wheel.py checks every reference.
SELECTION = (
    "dsfr.min.css",
    "dsfr.module.min.js",
    "dsfr.nomodule.min.js",
    "utility/utility.min.css",
    "fonts",
    "icons",
    "favicon",
)
LICENCE = "LICENSE.md"  # at the package's root, beside dist/
PROVENANCE = "PROVENANCE.json"


def locked() -> dict[str, str]:
    """The DSFR's entry in the npm lock: version, integrity, licence."""
    lock = json.loads((WEB / "package-lock.json").read_text(encoding="utf-8"))
    entry = lock["packages"][f"node_modules/{PACKAGE}"]
    return {
        "package": PACKAGE,
        "version": entry["version"],
        "integrity": entry["integrity"],
        "license": entry.get("license", ""),
    }


def npm_install(work: Path) -> Path:
    """The DSFR package folder installed by `npm ci` from the lock in `work` (reused while the lock holds)."""
    want = locked()
    installed = work / "node_modules" / ".package-lock.json"
    package = work / "node_modules" / PACKAGE
    if not (installed.is_file() and _installed_entry(installed) == want):
        work.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(WEB / name, work / name)
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit(
                "npm is needed to build the package from a checkout (the console's DSFR, "
                "exchange/web/package-lock.json): install npm, or build the wheel from the sdist"
            )
        subprocess.run(
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"], cwd=work, check=True
        )
        if _installed_entry(installed) != want:
            raise SystemExit(f"npm ci did not install {PACKAGE} {want['version']} ({want['integrity']})")
    return package


def _installed_entry(installed: Path) -> dict[str, str]:
    entry = json.loads(installed.read_text(encoding="utf-8"))["packages"].get(f"node_modules/{PACKAGE}", {})
    return {
        "package": PACKAGE,
        "version": entry.get("version", ""),
        "integrity": entry.get("integrity", ""),
        "license": entry.get("license", ""),
    }


def copy_selection(package: Path, dest: Path) -> None:
    """The console's part of the DSFR's dist/, its licence and PROVENANCE.json, into `dest` (replaced)."""
    dist = package / "dist"
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for name in SELECTION:
        source, target = dist / name, dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copyfile(source, target)
    shutil.copyfile(package / LICENCE, dest / LICENCE)
    (dest / PROVENANCE).write_text(json.dumps(locked(), indent=2) + "\n", encoding="utf-8")


def place_dsfr(dest: Path) -> None:
    """Put the DSFR's assets at `dest`: from the sdist's own copy when building from one, else from npm."""
    shipped = WEB / "dsfr"
    if (shipped / PROVENANCE).is_file():  # an unpacked sdist: its copy, made from the lock beside it
        if json.loads((shipped / PROVENANCE).read_text(encoding="utf-8")) != locked():
            raise SystemExit(f"{shipped} does not match exchange/web/package-lock.json")
        if shipped.resolve() != dest.resolve():
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(shipped, dest)
        return
    copy_selection(npm_install(HERE / "build" / "dsfr-npm"), dest)


class BuildPyWithDsfr(build_py):
    """build_py, then the DSFR into the built package (not for an editable install)."""

    def run(self) -> None:
        super().run()
        if not getattr(self, "editable_mode", False):
            place_dsfr(Path(self.build_lib) / "exchange" / "web" / "dsfr")


class SdistWithDsfr(sdist):
    """sdist, with the DSFR's assets inside, so that a wheel builds from it without npm."""

    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        place_dsfr(Path(base_dir) / "exchange" / "web" / "dsfr")


if __name__ == "__main__":
    setup(cmdclass={"build_py": BuildPyWithDsfr, "sdist": SdistWithDsfr})
