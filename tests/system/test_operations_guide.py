"""docs/operations.md §0 as a Caf's administrator follows it: every block marked `<!-- guide-test -->`, in order, in
one bash, from the release `make dist` writes, on a fresh machine — to a processed file, a backup and a restore.

The machine is this one seen through a private mount namespace: /etc, /opt, /var and /srv are overlays whose
writes land in the test's folder (the host's stay untouched), so the guide's paths (/etc/esat-exchange,
/opt/esat-exchange-<version>, /var/lib/esat-exchange…) and its `useradd` are run exactly as written. The service's
commands go through the guide's `esat` function: `runuser -u esat-exchange`, never root. Between blocks, the test
plays what happens outside the guide (the Caf hands over its Habpps extract, Esats upload, a day passes after the
backup) and notes what a person would check. A few minutes: it builds, installs and runs for real."""

from __future__ import annotations

import json
import os
import re
import runpy
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.paths import ROOT
from tests.services import unavailable

EXAMPLES = ROOT / "fixtures" / "examples"
blocks = runpy.run_path(str(ROOT / "scripts" / "guide-blocks.py"))["blocks"]
PASSWORD = "une-phrase-de-passe-assez-longue-2026"
SERVER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # a Debian server's, Debian's python3


def deposit(account: str) -> str:
    """An Esat's upload into the local drop area, settled (older than [source] settle_seconds)."""
    zone = "/var/lib/esat-exchange/zone-de-depot"
    return (
        f"cp -r {EXAMPLES}/drop/{account} {zone}/\n"
        f"chown -R esat-exchange:esat-exchange {zone}/{account}\n"
        f"find {zone}/{account} -exec touch -d '2 hours ago' {{}} +\n"
    )


def hooks(out: Path) -> tuple[dict[str, str], dict[str, str]]:
    """What happens outside the guide, before and after its named blocks."""
    before = {
        "habilitations": (
            f"install -d -m 0755 /srv/habpps/2025-12-01\ninstall -m 0644 {EXAMPLES}/habpps/*.csv /srv/habpps/2025-12-01/\n"
        ),
        "operateur": "",
        "premier-cycle": deposit("esat-seine"),
        # after the backup, another Esat's files are taken and answered: the restored ledger will not know them
        "restauration": deposit("horizon-paie")
        + f"esat run\nesat files list --format json > {out}/avant-restauration.json\n",
    }
    after = {
        "premier-cycle": f"stat -c %U /var/lib/esat-exchange/exchange.db > {out}/proprietaire.txt\n",
        "restauration": f"esat files list --format json > {out}/apres-restauration.json\n",
        "recuperation-depot": (
            f'cp "$INCONNUS/inconnus.txt" {out}/inconnus.txt\n'
            f"find /var/lib/esat-exchange/zone-de-depot -path '*/depot/*' -type f | sort > {out}/redeposes.txt\n"
            f'find "$INCONNUS" -type f | sort > {out}/mis-de-cote.txt\n'
        ),
        "apres-recuperation": (
            f"esat files list --format json > {out}/apres-recuperation.json\n"
            f"esat status > {out}/etat-final.txt || true\n"
        ),
        "retour-arriere": f"esat files list --format json > {out}/apres-retour-arriere.json\n",
    }
    return before, after


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The release folder as the administrator receives it: what `make dist` writes."""
    out = tmp_path_factory.mktemp("publication")
    proc = subprocess.run(["make", "-s", "-C", str(ROOT), "dist", f"DIST={out}"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


def test_the_release_holds_what_the_guide_installs(release):
    names = {p.name for p in release.iterdir()}
    assert {
        "requirements.txt",
        "esat-exchange.toml.sample",
        "esat-exchange.service",
        "esat-exchange-web.service",
        "operations.md",
        "CHANGELOG.md",
        "Containerfile",
        "SHA256SUMS",
    } <= names
    assert len([n for n in names if n.endswith(".whl")]) == 1 and len([n for n in names if n.endswith(".tar.gz")]) == 1
    assert (release / "operations.md").read_text(encoding="utf-8") == (ROOT / "docs" / "operations.md").read_text(
        encoding="utf-8"
    )
    assert "--hash=sha256:" in (release / "requirements.txt").read_text(encoding="utf-8")
    summed = {line.split("  ", 1)[1] for line in (release / "SHA256SUMS").read_text(encoding="utf-8").splitlines()}
    assert summed == names - {"SHA256SUMS"}


def test_the_guide_runs_from_the_release_to_a_processed_file_a_backup_and_a_restore(release, tmp_path):
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("runuser") is None:
        unavailable("root with unshare and runuser (util-linux): the guide creates a user and runs as it")
    if not Path("/usr/bin/python3").exists():
        unavailable("Debian's python3 with python3-venv")
    out = tmp_path / "constats"
    out.mkdir(mode=0o777)
    before, after = hooks(out)
    named = blocks("guide-test")
    assert set(before) | set(after) <= {name for name, _ in named}, "a block the test hooks on is gone from the guide"
    script = ["set -eux"]
    for name, body in named:
        script += [f"# --- avant {name}", before.get(name, ""), f"# --- bloc {name or '(sans nom)'}", body]
        script += [f"# --- après {name}", after.get(name, "")]
    (tmp_path / "guide.sh").write_text("\n".join(script) + "\n", encoding="utf-8")
    (tmp_path / "mot-de-passe").write_text(PASSWORD + "\n", encoding="utf-8")
    layers = tmp_path / "couches"
    machine = f"""set -eu
for d in etc opt var srv; do
  mkdir -p {layers}/$d-up {layers}/$d-work
  # files mounted over the lower folder (resolv.conf, hosts…) are not part of it: carry them into the overlay
  findmnt -rno TARGET | grep "^/$d/" | while read -r f; do
    rel=${{f#/$d/}}
    if [ -f "$f" ]; then mkdir -p "{layers}/$d-up/$(dirname "$rel")"; cp -p "$f" "{layers}/$d-up/$rel"; fi
  done
  mount -t overlay overlay -o lowerdir=/$d,upperdir={layers}/$d-up,workdir={layers}/$d-work /$d
done
cd {release}
exec bash {tmp_path / "guide.sh"} < {tmp_path / "mot-de-passe"}
"""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(PATH=SERVER_PATH, LANG="C.UTF-8")
    proc = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "bash", "-c", machine],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
    )
    log = proc.stdout + proc.stderr
    (tmp_path / "journal.txt").write_text(log, encoding="utf-8")
    assert proc.returncode == 0, log[-6000:]

    version = next(release.glob("esat_exchange-*.whl")).name.removeprefix("esat_exchange-").split("-py3")[0]
    assert f"esat-exchange {version}\n" in proc.stdout  # the wheel's own version, from git
    assert "Configuration écrite dans /etc/esat-exchange/esat-exchange.toml" in proc.stdout
    assert "Base de données créée : révision aucune → " in proc.stdout
    assert "clé lisible par le service" in proc.stdout
    assert "Opérateur « admin » créé : rôle gestionnaire, périmètre national" in proc.stdout
    assert "Fichiers traités : 2 — " in proc.stdout  # the first cycle: the Esat's two files, answered
    assert (out / "proprietaire.txt").read_text().strip() == "esat-exchange"  # written as the service, not root
    assert "Sauvegarde faite dans /var/backups/esat-exchange/" in proc.stdout
    assert "fichiers connus de la base : présents et intacts" in proc.stdout

    def names(listing: str) -> set[str]:
        return {row["fichier"] for row in json.loads((out / listing).read_text(encoding="utf-8"))}

    seine = {"ESAT_81234567600017_RG_20251210_001.csv", "ESAT_81234567600017_CA_20251212_001.csv"}
    horizon = {"ESAT_44306184100021_RG_20251211_001.xml", "ESAT_44306184100021_CA_20251212_001.xml"}
    assert names("avant-restauration.json") == seine | horizon
    assert names("apres-restauration.json") == seine  # the ledger as it was at the backup
    # after the restore, status counts what the ledger does not know; once recovered, nothing
    assert re.search(r"- \d+ fichiers inconnus de la base \(2 copies reçues \(dossier de stockage\), ", proc.stdout)
    final = (out / "etat-final.txt").read_text(encoding="utf-8")
    assert "Fichiers inconnus de la base : 0" in final and "fichiers inconnus de la base (" not in final
    unknown = (out / "inconnus.txt").read_text(encoding="utf-8").splitlines()
    assert {Path(p).name for p in unknown if "/archive/" in p} == horizon  # the originals taken after the backup
    assert any(p.startswith("/var/lib/esat-exchange/recus/") for p in unknown)
    assert any(p.startswith("/var/lib/esat-exchange/caf/") for p in unknown)
    assert not any("esat-seine" in p for p in unknown)
    set_aside = (out / "mis-de-cote.txt").read_text(encoding="utf-8")
    assert "/recus/" in set_aside and "/caf/" in set_aside  # kept, not deleted
    assert {Path(p).name for p in (out / "redeposes.txt").read_text().splitlines()} == horizon
    recovered = json.loads((out / "apres-recuperation.json").read_text(encoding="utf-8"))
    assert {row["fichier"] for row in recovered} == seine | horizon  # known again, nothing lost
    assert {row["etat"] for row in recovered} == {"ACQUITTE"}
    # the upgrade's backup, then the rollback to it: the same ledger, at the program's revision
    assert "Sauvegarde faite dans /var/backups/esat-exchange/avant-" in proc.stdout
    assert names("apres-retour-arriere.json") == seine | horizon
    assert "État : à jour." in proc.stdout  # `db status` after the rollback
