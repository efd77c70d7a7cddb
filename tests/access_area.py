"""Test helpers for who sees what: a ledger of three perimeters (Caf 75, Caf 69, the CNA) served by the real
console, and an HTTP client that logs in with the login form and keeps its cookie."""

from __future__ import annotations

import http.client
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from exchange.store.engine import in_transaction, open_database
from exchange.store.operators import add_operator
from tests.areas import cli, seed_examples, write_config
from tests.conftest import EXAMPLES

PASSWORD = "mot-de-passe-2026"
SEINE = {"siret": "81234567600017", "account": "esat-seine", "caf": "75"}
HORIZON = {"siret": "44306184100021", "account": "horizon-paie", "caf": "cna"}
RHONE_SIRET = "0"  # filled below (a valid SIRET of a Caf 69 Esat)


def luhn_complete(prefix13: str) -> str:
    """The 14-digit SIRET whose check digit makes it valid (Luhn)."""
    for last in "0123456789":
        digits = [int(c) for c in prefix13 + last]
        total = sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(reversed(digits)))
        if total % 10 == 0:
            return prefix13 + last
    raise AssertionError(prefix13)


RHONE = {"siret": luhn_complete("5012345670001"), "account": "esat-rhone", "caf": "69"}
# Esats with no file at all: they stay « sans déclaration » on the campaign page
SILENT = {
    "75": luhn_complete("3012345670001"),
    "69": luhn_complete("3112345670001"),
    "cna": luhn_complete("3212345670001"),
}
ESATS = {
    "75": [SEINE["siret"], SILENT["75"]],
    "69": [RHONE["siret"], SILENT["69"]],
    "cna": [HORIZON["siret"], SILENT["cna"]],
}
ACCOUNTS = {"75": ["esat-seine"], "69": ["esat-rhone"], "cna": ["horizon-paie", "horizon-direction"]}


def _append(path: Path, lines: list[str]) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))


def habpps_extract(target: Path) -> Path:
    """The spec's example extract plus a Caf 69 Esat that declares and three Esats (75, 69, multi) that do not."""
    shutil.copytree(EXAMPLES / "habpps", target)
    rows = [
        (RHONE["siret"], "ESAT du Rhône", "69", "69", "DEPARTEMENTALE", "esat-rhone"),
        (SILENT["75"], "ESAT Paris Nord", "75", "75", "DEPARTEMENTALE", None),
        (SILENT["69"], "ESAT Lyon Sud", "69", "69", "DEPARTEMENTALE", None),
        (SILENT["cna"], "ESAT Multi Est", "67", "67", "MULTI_DEPARTEMENTALE", None),
    ]
    for n, (siret, name, caf, dep, portee, login) in enumerate(rows):
        conv, group = f"CONV-T-{n}", f"G-T-{n}-DECL"
        _append(target / "partenaires.csv", [f"{siret};{name};{caf};{dep};{portee}"])
        _append(target / "conventions.csv", [f"{conv};{siret};ACTIVE;2024-01-01;;CENTRALISE;2024-01-01"])
        _append(target / "bulletins.csv", [f"BA-T-{n};{conv};ESAT;{siret};2024-01-02;SIGNE"])
        _append(target / "groupes.csv", [f"{group};{conv};ESAT;DECLARANT"])
        if login:
            _append(target / "utilisateurs.csv", [f"{login};{siret};{group};O"])
    return target


def seed_three_perimeters(base: Path, db_url: str | None, port: int) -> Path:
    """The example drop area plus an RG of the Caf 69 Esat, the extract imported, last night's run done,
    and operators of every perimeter and role (login `<perimeter>-<role>`); the configuration's path."""
    cfg = seed_examples(base, db_url)
    seine_rg = base / "drop" / "esat-seine" / "depot" / "ESAT_81234567600017_RG_20251210_001.csv"
    rhone = base / "drop" / "esat-rhone" / "depot"
    rhone.mkdir(parents=True)
    (rhone / f"ESAT_{RHONE['siret']}_RG_20251210_001.csv").write_text(
        seine_rg.read_text(encoding="utf-8").replace(SEINE["siret"], RHONE["siret"]), encoding="utf-8"
    )
    for account in ("esat-rhone",):
        (base / "drop" / account / "retour").mkdir(exist_ok=True)
    write_config(base / "esat-exchange.toml", cfg)
    with open(base / "esat-exchange.toml", "a", encoding="utf-8") as f:
        f.write(f'[web]\nbind = "127.0.0.1:{port}"\ntrusted_proxies = ["127.0.0.1"]\n')
    assert cli(base, "habilitations", "import", str(habpps_extract(base / "habpps")))[0] == 0
    assert cli(base, "run", "--as-of", "2025-12-15")[0] == 0
    engine = open_database(cfg.database_url)
    for perimeter in ("national", "cna", "75"):
        for role in ("lecteur", "gestionnaire"):
            in_transaction(engine, add_operator, f"{perimeter}-{role}", role, PASSWORD, [perimeter])
    in_transaction(engine, add_operator, "sans-perimetre", "lecteur", PASSWORD)
    engine.dispose()
    return base / "esat-exchange.toml"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


@dataclass
class Client:
    """One browser: a cookie jar of one cookie, the CSRF token of its last page."""

    port: int
    source: str = "127.0.0.1"
    cookie: str | None = None
    csrf: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def request(self, method: str, path: str, form: dict | None = None, headers: dict | None = None) -> Answer:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60, source_address=(self.source, 0))
        sent = {**self.extra, **(headers or {})}
        if self.cookie:
            sent["Cookie"] = self.cookie
        body = None
        if form is not None:
            body = urlencode({"csrf": self.csrf or "", **form})
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=sent)
        r = conn.getresponse()
        answer = Answer(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        conn.close()
        set_cookie = answer.headers.get("set-cookie")
        if set_cookie:
            pair = set_cookie.split(";", 1)[0]
            self.cookie = None if pair.endswith("=") else pair
        token = (
            re.search(r'name="csrf" value="([^"]+)"', answer.text)
            if answer.headers.get("content-type", "").startswith("text/html")
            else None
        )
        if token:
            self.csrf = token.group(1)
        return answer

    def get(self, path: str, **kw) -> Answer:
        return self.request("GET", path, **kw)

    def post(self, path: str, form: dict | None = None, **kw) -> Answer:
        return self.request("POST", path, form or {}, **kw)

    def login(self, login: str, password: str = PASSWORD) -> Answer:
        self.get("/connexion")
        answer = self.post("/connexion", {"login": login, "password": password, "suite": ""})
        if answer.status == 303:
            self.get("/migration")  # a first page: the new session's CSRF token
        return answer
