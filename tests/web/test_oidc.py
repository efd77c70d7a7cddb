"""Single sign-on against a REAL OpenID provider (npm `oidc-provider`, run by node on loopback) and the real
console: login, logout, a refused claim, a replayed code, a wrong audience."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import time
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx  # single sign-on's own dependencies are locked runtime dependencies (uv.lock): never skipped
import pytest

from exchange.config import OidcConfig
from exchange.edges import oidc
from tests.access_area import seed_three_perimeters
from tests.areas import cli
from tests.browser import free_port, start_console
from tests.paths import TESTS
from tests.services import unavailable

HERE = TESTS / "oidc"
SECRET = "secret-du-client-console-2026"
ACCOUNTS = {
    "alice": {"preferred_username": "alice", "esat_role": "lecteur", "esat_perimetre": ["75"]},
    "carole": {"preferred_username": "carole", "esat_role": "gestionnaire", "esat_perimetre": "cna"},
    "bob": {"preferred_username": "bob", "esat_role": "administrateur", "esat_perimetre": ["national"]},
    "dan": {"preferred_username": "dan", "esat_role": "lecteur"},
    # a provider account naming itself after a local account, and another person reusing gina's name
    "eve": {"preferred_username": "national-gestionnaire", "esat_role": "lecteur", "esat_perimetre": ["75"]},
    "gina": {"preferred_username": "gina", "esat_role": "lecteur", "esat_perimetre": ["75"]},
    "gina-bis": {"preferred_username": "GINA", "esat_role": "gestionnaire", "esat_perimetre": ["national"]},
}


def start_provider(port: int, console_port: int) -> subprocess.Popen:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        unavailable("node and npm (the test OpenID provider)")
    if not (HERE / "node_modules" / "oidc-provider").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HERE, check=True, timeout=600)
    console = f"http://127.0.0.1:{console_port}"
    setup = {
        "accounts": ACCOUNTS,
        "clients": [
            {
                "client_id": "console",
                "client_secret": SECRET,
                "redirect_uris": [f"{console}/connexion/oidc/retour"],
                "post_logout_redirect_uris": [f"{console}/connexion"],
            },
            {"client_id": "autre", "client_secret": "secret-autre", "redirect_uris": ["http://127.0.0.1:9/retour"]},
        ],
    }
    process = subprocess.Popen(
        [node, "provider.mjs", str(port), json.dumps(setup)],
        cwd=HERE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/.well-known/openid-configuration", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"the OpenID provider did not start: {process.stdout.read()}")


@pytest.fixture(scope="module")
def area(tmp_path_factory):
    base = tmp_path_factory.mktemp("oidc")
    port, provider_port = free_port(), free_port()
    provider = start_provider(provider_port, port)
    config = seed_three_perimeters(base, None, port)
    with open(config, "a", encoding="utf-8") as f:
        f.write(
            f'[web.oidc]\nissuer = "http://127.0.0.1:{provider_port}"\nclient_id = "console"\n'
            f'scopes = ["openid", "profile", "esat"]\n'
        )
    os.environ["ESAT_EXCHANGE_OIDC_SECRET"] = SECRET  # the console process inherits it
    try:
        console = start_console(config, port)
    finally:
        del os.environ["ESAT_EXCHANGE_OIDC_SECRET"]
    yield {"base": base, "console": f"http://127.0.0.1:{port}", "issuer": f"http://127.0.0.1:{provider_port}"}
    console.stop()
    provider.terminate()
    provider.wait(timeout=20)


def follow(browser: httpx.Client, url: str, account: str, stop_at: str | None = None) -> httpx.Response:
    """Play the user: follow redirects, type the account on the provider's login page; stop before `stop_at`."""
    for _ in range(20):
        if stop_at and url.startswith(stop_at):
            return httpx.Response(303, headers={"location": url})
        answer = browser.get(url)
        if answer.status_code in (302, 303):
            url = urljoin(url, answer.headers["location"])
            continue
        form = re.search(r'<form method="post" action="(/interaction/[^"]+/login)"', answer.text)
        if form is None:
            return answer
        posted = browser.post(urljoin(url, form.group(1)), data={"login": account})
        assert posted.status_code in (302, 303), posted.text
        url = urljoin(url, posted.headers["location"])
    raise AssertionError("too many redirects")


def sso_login(area, account: str) -> tuple[httpx.Client, httpx.Response, str]:
    """A browser logging in with single sign-on: the browser, the last answer, the callback URL it went through."""
    browser = httpx.Client(follow_redirects=False, timeout=30)
    callback = follow(
        browser, area["console"] + "/connexion/oidc", account, stop_at=area["console"] + "/connexion/oidc/retour"
    ).headers["location"]
    return browser, follow(browser, callback, account), callback


def test_the_login_page_offers_single_sign_on(area):
    page = httpx.get(area["console"] + "/connexion").text
    assert "Se connecter avec le compte de l&#39;institution" in page and 'href="/connexion/oidc"' in page


def test_login_maps_the_claims_to_role_and_perimeter_then_logout_ends_everything(area):
    browser, answer, _ = sso_login(area, "alice")
    assert answer.status_code == 200 and str(answer.url) == area["console"] + "/"
    assert "alice (lecteur, périmètre 75)" in answer.text
    files = browser.get(area["console"] + "/fichiers").text
    assert (
        re.search(r'id="compte-fichiers"[^>]*>2 fichiers[.,]', files) and "esat-rhone" not in files
    )  # the Caf 75 perimeter
    listed = cli(area["base"], "operators", "list", "--format", "csv")[1]
    assert re.search(r"^alice;lecteur;75;actif;non \(mandataire\);", listed, re.M)
    saved = httpx.Client(follow_redirects=False, cookies={"esat_console": browser.cookies["esat_console"]})
    assert saved.get(area["console"] + "/fichiers").status_code == 200
    token = re.search(r'name="csrf" value="([^"]+)"', files).group(1)
    out = browser.post(area["console"] + "/deconnexion", data={"csrf": token})
    assert out.status_code == 303
    target = urlsplit(out.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == area["issuer"] + "/session/end"
    assert parse_qs(target.query) == {
        "client_id": ["console"],
        "post_logout_redirect_uri": [area["console"] + "/connexion"],
    }
    assert saved.get(area["console"] + "/fichiers").status_code == 303  # the old cookie opens nothing


@pytest.mark.parametrize(
    "account,reason",
    [
        ("bob", "Connexion refusée : rôle inconnu &#39;administrateur&#39; : « lecteur » ou « gestionnaire »."),
        ("dan", "Connexion refusée : l&#39;attribut « esat_perimetre » (périmètre) manque."),
    ],
)
def test_a_refused_claim_opens_no_session(area, account, reason):
    browser, answer, _ = sso_login(area, account)
    assert answer.status_code == 403 and reason in answer.text
    assert browser.get(area["console"] + "/fichiers").status_code == 303  # to the login page


def test_a_string_perimeter_claim_is_accepted(area):
    _browser, answer, _ = sso_login(area, "carole")
    assert answer.status_code == 200 and "carole (gestionnaire, périmètre cna)" in answer.text


def test_a_replayed_code_is_refused(area):
    browser, answer, callback = sso_login(area, "alice")
    assert answer.status_code == 200
    again = browser.get(callback)  # the same answer of the provider, a second time
    assert again.status_code == 403
    assert "état inconnu ou déjà utilisé" in again.text
    code = parse_qs(urlsplit(callback).query)["code"][0]
    thief = httpx.Client(follow_redirects=False, timeout=30)  # another browser with its own login under way
    state = parse_qs(urlsplit(thief.get(area["console"] + "/connexion/oidc").headers["location"]).query)["state"][0]
    stolen = thief.get(area["console"] + "/connexion/oidc/retour", params={"code": code, "state": state})
    assert stolen.status_code == 403
    assert "le fournisseur d&#39;identité refuse le code" in stolen.text
    assert thief.get(area["console"] + "/fichiers").status_code == 303


def test_an_id_token_for_another_client_is_refused(area):
    """A real ID token the provider signed for client « autre » is not accepted by the console (« console »)."""
    from authlib.common.security import generate_token
    from authlib.oauth2.rfc7636 import create_s256_code_challenge

    verifier, nonce = generate_token(64), generate_token(32)
    browser = httpx.Client(follow_redirects=False, timeout=30)
    query = {
        "response_type": "code",
        "client_id": "autre",
        "redirect_uri": "http://127.0.0.1:9/retour",
        "scope": "openid profile esat",
        "state": "s",
        "nonce": nonce,
        "code_challenge": create_s256_code_challenge(verifier),
        "code_challenge_method": "S256",
    }
    start = str(httpx.URL(area["issuer"] + "/auth", params=query))
    back = follow(browser, start, "alice", stop_at="http://127.0.0.1:9/retour").headers["location"]
    code = parse_qs(urlsplit(back).query)["code"][0]
    tokens = httpx.post(
        area["issuer"] + "/token",
        auth=("autre", "secret-autre"),
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "http://127.0.0.1:9/retour",
            "code_verifier": verifier,
        },
    ).json()
    config = OidcConfig(issuer=area["issuer"], client_id="console")
    provider = oidc.discover(config)
    with pytest.raises(oidc.OidcError, match=r"jeton d'identité refusé .*aud"):
        oidc.check_id_token(config, provider, tokens["id_token"], nonce)
    mine = OidcConfig(issuer=area["issuer"], client_id="autre")  # the same token, for its own client: accepted
    assert oidc.check_id_token(mine, provider, tokens["id_token"], nonce)["esat_role"] == "lecteur"
    with pytest.raises(oidc.OidcError, match="nonce"):
        oidc.check_id_token(mine, provider, tokens["id_token"], "un-autre-nonce")


def test_accounts_are_bound_by_issuer_and_subject_never_taken_over_by_name(area):
    """OIDC binds an account to the provider's `iss` + `sub`: a provider account calling itself like a local account
    (or like another person's, in any case) is refused, and opens nothing."""
    browser, answer, _ = sso_login(area, "eve")  # preferred_username « national-gestionnaire »: a local account
    assert answer.status_code == 403
    assert "le compte « national-gestionnaire » existe déjà dans la console sans être lié" in html.unescape(answer.text)
    assert browser.get(area["console"] + "/fichiers").status_code == 303
    _browser, first, _ = sso_login(area, "gina")
    assert first.status_code == 200 and "gina (lecteur, périmètre 75)" in first.text
    _browser, again, _ = sso_login(area, "gina")  # the same person: the same account
    assert again.status_code == 200 and "gina (lecteur, périmètre 75)" in again.text
    intruder, refused, _ = sso_login(area, "gina-bis")  # another `sub` calling itself GINA
    assert refused.status_code == 403 and "le compte « gina » existe déjà" in html.unescape(refused.text)
    assert intruder.get(area["console"] + "/fichiers").status_code == 303
    listed = cli(area["base"], "operators", "list", "--format", "csv")[1]
    assert re.search(r"^gina;lecteur;75;", listed, re.M) and "GINA" not in listed
