"""The program as a Caf installs it: the wheel, not the checkout.

`python -m build` (sdist, then the wheel from the sdist, with the locked setuptools) must carry the console's
design system (DSFR) from the npm lock; the wheel, installed into an empty venv beside the locked runtime
dependencies (hashes required), must serve the login page and its DSFR stylesheets. About a minute: it builds
and installs for real."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

import pytest

from tests.browser import free_port
from tests.paths import ROOT
from tests.services import unavailable

WEB = ROOT / "exchange" / "web"
DSFR_IN_WHEEL = "exchange/web/dsfr/"
TEMPLATE_ASSET = re.compile(r"""\{\{ base \}\}/static/dsfr/([^"'\s]+)""")
CSS_URL = re.compile(r"""url\(\s*["']?([^"')]+?)["']?\s*\)""")


def run(*cmd: str | Path, cwd: Path = ROOT, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (
        f"{' '.join(map(str, cmd))} → {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    )
    return proc.stdout


def uv() -> Path:
    """The uv that `make` installed (.tools/), or one on PATH: it exports the lock."""
    for candidate in (os.environ.get("ESAT_UV"), ROOT / ".tools" / "bin" / "uv", shutil.which("uv")):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    unavailable("uv (make setup installs it in .tools/)")
    raise AssertionError  # unreachable


def clean_env() -> dict[str, str]:
    """The environment of a shell on the installed machine: nothing pointing at this checkout or its venv."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(ROOT)))
    return env


def locked_dsfr() -> dict[str, str]:
    entry = json.loads((WEB / "package-lock.json").read_text(encoding="utf-8"))["packages"]["node_modules/@gouvfr/dsfr"]
    return {
        "package": "@gouvfr/dsfr",
        "version": entry["version"],
        "integrity": entry["integrity"],
        "license": entry["license"],
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The release `make dist` makes from this tree with the locked build tools only (the wheel built from the
    sdist by `python -m build`, the version from git by setuptools-scm)."""
    out = tmp_path_factory.mktemp("dist")
    run("make", "-s", "-C", ROOT, "dist", f"DIST={out}")
    (wheel,) = out.glob("esat_exchange-*.whl")
    (sdist,) = out.glob("esat_exchange-*.tar.gz")
    return {"wheel": wheel, "sdist": sdist, "dir": out}


def test_the_wheel_and_the_sdist_carry_the_dsfr_of_the_npm_lock(built):
    wheel = zipfile.ZipFile(built["wheel"])
    names = set(wheel.namelist())
    dsfr = {n[len(DSFR_IN_WHEEL) :] for n in names if n.startswith(DSFR_IN_WHEEL)}
    assert {
        "dsfr.min.css",
        "utility/utility.min.css",
        "dsfr.module.min.js",
        "dsfr.nomodule.min.js",
        "favicon/favicon.svg",
        "fonts/Marianne-Regular.woff2",
        "LICENSE.md",
        "PROVENANCE.json",
    } <= dsfr
    assert json.loads(wheel.read(DSFR_IN_WHEEL + "PROVENANCE.json")) == locked_dsfr()
    assert "Etalab" in wheel.read(DSFR_IN_WHEEL + "LICENSE.md").decode("utf-8")
    assert not any("node_modules" in n or n.endswith(".map") for n in names)  # only what the console serves
    with tarfile.open(built["sdist"]) as sdist:
        in_sdist = {PurePosixPath(*PurePosixPath(n).parts[1:]).as_posix() for n in sdist.getnames()}
    assert {DSFR_IN_WHEEL + n for n in dsfr} <= in_sdist  # a wheel builds from the sdist without npm
    # every DSFR file a page links to, and every file those stylesheets load, is in the wheel
    linked = {m for t in (WEB / "templates").glob("*.html") for m in TEMPLATE_ASSET.findall(t.read_text("utf-8"))}
    assert {"dsfr.min.css", "utility/utility.min.css", "dsfr.module.min.js"} <= linked
    assert linked <= dsfr
    for css in ("dsfr.min.css", "utility/utility.min.css"):
        text = wheel.read(DSFR_IN_WHEEL + css).decode("utf-8")
        refs = {u.split("?")[0].split("#")[0] for u in CSS_URL.findall(text) if not u.startswith("data:")}
        assert refs, css
        for ref in refs:
            target = os.path.normpath(str(PurePosixPath(css).parent / ref))
            assert target in dsfr, f"{css} loads {ref}, absent from the wheel"


def test_the_installed_wheel_serves_its_console(built, tmp_path):
    env = clean_env()
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv, env=env)
    python, program = venv / "bin" / "python", venv / "bin" / "esat-exchange"
    requirements = tmp_path / "requirements.txt"  # what `make dist` ships beside the wheel
    run(
        uv(),
        "export",
        "--locked",
        "--format",
        "requirements-txt",
        "--no-emit-project",
        "--no-dev",
        "--output-file",
        requirements,
    )
    assert "--hash=sha256:" in requirements.read_text(encoding="utf-8")
    run(uv(), "pip", "install", "--python", python, "--require-hashes", "-r", requirements, cwd=tmp_path, env=env)
    run(python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", built["wheel"], cwd=tmp_path, env=env)
    where = run(python, "-c", "import exchange.web.app as a; print(a.DSFR_DIST)", cwd=tmp_path, env=env).strip()
    assert where.startswith(str(venv)) and where.endswith("exchange/web/dsfr")  # the package's copy, not a checkout

    port = free_port()
    config = tmp_path / "esat-exchange.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "exchange.db"}"\n[web]\nbind = "127.0.0.1:{port}"\n',
        encoding="utf-8",
    )
    run(program, "--config", config, "db", "upgrade", cwd=tmp_path, env=env)
    log = tmp_path / "web.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [str(program), "--config", str(config), "web"],
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**env, "ESAT_EXCHANGE_WEB_SECRET": "s" * 40},
        )
    try:
        page = fetch_when_up(f"http://127.0.0.1:{port}/connexion", server, log)
        assert page.status == 200 and page.headers.get_content_type() == "text/html"
        html = page.read().decode("utf-8")
        assert '<html lang="fr"' in html and "<h1>Connexion</h1>" in html and "Mot de passe" in html
        sheets = re.findall(r'<link rel="stylesheet" href="(/static/dsfr/[^"]+\.css)"', html)
        assert "/static/dsfr/dsfr.min.css" in sheets
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{sheets[0]}", timeout=10) as css:
            body = css.read()
            assert css.status == 200 and css.headers.get_content_type() == "text/css"
        assert len(body) > 100_000 and b".fr-btn" in body
    finally:
        server.terminate()
        server.wait(timeout=20)


def fetch_when_up(url: str, server: subprocess.Popen, log: Path):  # noqa: ANN201 - an http.client response
    """The first answer of the console at `url`, waiting for it to listen (60 s at most)."""
    deadline = time.monotonic() + 60
    while True:
        if server.poll() is not None:
            pytest.fail(f"the installed console exited ({server.returncode}): {log.read_text(errors='replace')}")
        try:
            return urllib.request.urlopen(url, timeout=10)
        except urllib.error.HTTPError as e:
            pytest.fail(f"{url}: HTTP {e.code}: {log.read_text(errors='replace')}")
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"the installed console did not answer within 60 s: {log.read_text(errors='replace')}")
            time.sleep(0.3)
