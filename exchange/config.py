"""Configuration: the TOML file of cli.md, checked key by key, paths resolved against the file."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

from exchange.core.jobs import default_schedule, default_schedules
from exchange.errors import TerminalError


class ConfigError(TerminalError):
    """A configuration problem (exit 2); the message names the key."""


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = "sqlite:///var/exchange.db"


@dataclass(frozen=True)
class SourceConfig:
    kind: str = "local"
    root: str = "var/drop"
    settle_seconds: float = 60
    host: str = ""
    port: int = 22
    username: str = ""
    private_key: str = ""
    known_hosts: str = ""
    timeout_seconds: float = 30
    retries: int = 3


@dataclass(frozen=True)
class StorageConfig:
    dir: str = "var/received"


@dataclass(frozen=True)
class OutputConfig:
    dir: str = "var/outbound"


@dataclass(frozen=True)
class LimitsConfig:
    max_file_bytes: int = 52_428_800
    max_records: int = 100_000


@dataclass(frozen=True)
class ScheduleConfig:
    timezone: str = "Europe/Paris"
    # one key per scheduled job of exchange.core.jobs.REGISTRY (its id), defaulting to the registry's crontab(s)
    collect: str = default_schedule("collect")
    nightly: str = default_schedule("nightly")
    campaign: list[str] = field(default_factory=lambda: default_schedules("campaign"))
    misfire_grace_seconds: int = 6 * 3600
    purge: str = default_schedule("purge")  # the retention rules of [retention], applied every night


@dataclass(frozen=True)
class OidcConfig:
    """`[web.oidc]`: single sign-on through the institution's OpenID provider, beside local accounts."""

    issuer: str = ""  # e.g. "https://sso.caf.fr/realms/agents"; empty: no single sign-on
    client_id: str = ""
    client_secret_env: str = "ESAT_EXCHANGE_OIDC_SECRET"  # the environment variable holding the client secret
    scopes: list[str] = field(default_factory=lambda: ["openid", "profile"])
    login_claim: str = "preferred_username"  # the ID token claim that names the console account
    role_claim: str = "esat_role"  # "lecteur" or "gestionnaire"
    perimeter_claim: str = "esat_perimetre"  # "national", "cna", a Caf code, or a list of them
    label: str = "Se connecter avec le compte de l'institution"  # the button on the login page

    @property
    def enabled(self) -> bool:
        return bool(self.issuer)


@dataclass(frozen=True)
class WebConfig:
    """`[web]`: the operator console (`esat-exchange web`)."""

    bind: str = "127.0.0.1:8080"  # host:port uvicorn listens on
    base_path: str = ""  # e.g. "/esat" behind a reverse proxy that forwards /esat/…
    secret_key_file: str = ""  # unused since sessions live in the database (accepted for old configurations)
    trusted_proxies: list[str] = field(default_factory=list)  # proxies trusted for proxy_header, X-Forwarded-*
    proxy_header: str = ""  # e.g. "X-Remote-User": the login given by an authenticating reverse proxy
    session_idle_minutes: int = 30  # a console session unused this long is ended
    login_attempts: int = 3  # failed logins per login and client address before each next try is delayed…
    login_max_delay_seconds: int = 8  # …1, 2, 4… seconds, at most this long
    login_window_seconds: int = 900  # a login's failures from one address are forgotten after this long
    oidc: OidcConfig = field(default_factory=OidcConfig)
    # The console's address as the Esats reach it (with base_path), e.g. "https://esat.caf.example/esat":
    # comptes rendus then link each code to its section of the guide served at <public_url>/verifier/guide.
    public_url: str = ""
    verify_requests: int = 20  # « Vérifier mon fichier » (/verifier): checks allowed per client address…
    verify_window_seconds: int = 600  # …within this window, then « trop de demandes » until it passes
    # the console lists the drop area's depot/ in the background this often (0: every second); pages, /sante and
    # /metrics read the last listing, never the drop area itself
    depot_cache_seconds: int = 60
    # a listing still unanswered after this long makes the drop area « injoignable » since it started
    depot_patience_seconds: float = 5
    # how to reach the national team (a mail address, a phone, a ticket queue), shown to a Caf's gestionnaire where
    # the next step is national (importing a corrected Habpps extract)
    national_contact: str = ""

    @property
    def guide_url(self) -> str:
        """Where comptes rendus link the Esats' guide ("" when the console's public address is not set)."""
        return self.public_url.rstrip("/") + "/verifier/guide" if self.public_url else ""

    @property
    def host(self) -> str:
        return self.bind.rpartition(":")[0]

    @property
    def port(self) -> int:
        return int(self.bind.rpartition(":")[2])


@dataclass(frozen=True)
class LocksConfig:
    """Job locks and scheduler leadership (see docs/operations.md, « Deux machines »)."""

    heartbeat_seconds: float = 5  # the holder's lock connection says it is alive this often; standbys retry as often
    timeout_seconds: float = 30  # PostgreSQL drops a holder silent for this long (frozen process, dead machine)
    idle_transaction_seconds: float = 60  # a fenced transaction left idle this long is ended by PostgreSQL


@dataclass(frozen=True)
class RetentionConfig:
    """`[retention]`: how long each kind of personal data is kept (README, « Durées de conservation »)."""

    copies: str = "2 ans"  # received copies and archive/ copies, after the file is answered
    comptes_rendus: str = "2 ans"  # comptes rendus in retour/, after the file is answered
    identity: str = "2 ans"  # the worker's identity in records and anomalies, after the campaign window closed
    outputs: str = "1 an"  # Caf output files, after they were written
    audit: str = "1 an"  # the audit journal
    runs: str = "5 ans"  # run records
    # upper bound for a file never finished (QUARANTAINE, or answered with records never emitted): everything
    # of it, after the later of its last change and the close of its year's campaign
    unfinished: str = "5 ans"

    def durations(self) -> dict[str, Any]:
        """Each key's Duration (exchange.core.retention); ConfigError naming the first bad key."""
        from exchange.core.retention import NO_ZERO, DurationError, parse_duration

        parsed = {}
        for f in fields(self):
            try:
                parsed[f.name] = parse_duration(getattr(self, f.name), NO_ZERO.get(f.name))
            except DurationError as e:
                raise ConfigError(f"retention.{f.name}: {e}") from None
        return parsed


@dataclass(frozen=True)
class AlertsConfig:
    """`[alerts]`: where alerts go (a failed or missed nightly, a file in quarantine); no channel: none sent."""

    smtp_host: str = ""  # the mail server; "" sends no mail
    smtp_port: int = 25
    smtp_from: str = ""
    smtp_to: list[str] = field(default_factory=list)
    webhook_url: str = ""  # http(s) address each alert is POSTed to as JSON; "" posts nothing

    @property
    def enabled(self) -> bool:
        return bool(self.smtp_host or self.webhook_url)


@dataclass(frozen=True)
class Config:
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    source: SourceConfig = field(default_factory=SourceConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    web: WebConfig = field(default_factory=WebConfig)
    locks: LocksConfig = field(default_factory=LocksConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    base_dir: Path = field(default_factory=Path.cwd)  # what relative paths are relative to

    def path(self, value: str) -> Path:
        """A configured path, resolved against the configuration file's folder."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else (self.base_dir / p)

    @property
    def storage_dir(self) -> Path:
        return self.path(self.storage.dir)

    @property
    def output_dir(self) -> Path:
        return self.path(self.output.dir)

    @property
    def drop_root(self) -> Path:
        return self.path(self.source.root)

    @property
    def database_url(self) -> str:
        """The URL, with a relative SQLite path resolved against base_dir."""
        url = self.database.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite://":
            rest = url[len(prefix) :]
            if rest and rest != ":memory:":
                return prefix + str(self.path(rest))
        return url


_SECTIONS = {f.name: f for f in fields(Config) if f.name != "base_dir"}


def _check_type(key: str, value: Any, hint: Any) -> Any:
    if get_origin(hint) is list:
        (item,) = get_args(hint)
        if not isinstance(value, list) or not all(isinstance(v, item) for v in value):
            raise ConfigError(f"{key}: une liste de {item.__name__} est attendue")
        return list(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: un nombre est attendu, pas {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: un entier est attendu, pas {value!r}")
        return value
    if hint is str and not isinstance(value, str):
        raise ConfigError(f"{key}: une chaîne est attendue, pas {value!r}")
    if is_dataclass(hint):  # a sub-section, e.g. [web.oidc]
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: une section [{key}] est attendue")
        hints = get_type_hints(hint)
        for sub in value:
            if sub not in hints:
                raise ConfigError(f"clé inconnue dans la configuration : {key}.{sub}")
        checked = {sub: _check_type(f"{key}.{sub}", v, hints[sub]) for sub, v in value.items()}
        return hint(**checked)  # type: ignore[operator]  # a dataclass type, checked just above
    return value


def parse_config(data: dict[str, Any], base_dir: Path) -> Config:
    """A Config from parsed TOML; ConfigError naming the first unknown key or wrong type."""
    cfg = Config(base_dir=base_dir)
    for section, values in data.items():
        if section not in _SECTIONS:
            raise ConfigError(f"clé inconnue dans la configuration : [{section}]")
        if not isinstance(values, dict):
            raise ConfigError(f"{section}: une section [{section}] est attendue")
        current = getattr(cfg, section)
        hints = get_type_hints(type(current))
        changes = {}
        for key, value in values.items():
            if key not in hints:
                raise ConfigError(f"clé inconnue dans la configuration : {section}.{key}")
            changes[key] = _check_type(f"{section}.{key}", value, hints[key])
        cfg = replace(cfg, **{section: replace(current, **changes)})
    if cfg.source.kind not in ("local", "sftp"):
        raise ConfigError(f"source.kind: « local » ou « sftp » attendu, pas {cfg.source.kind!r}")
    if cfg.source.kind == "sftp":
        for key in ("host", "username", "private_key", "known_hosts"):
            if not getattr(cfg.source, key):
                raise ConfigError(f"source.{key}: obligatoire quand source.kind = « sftp »")
    if cfg.limits.max_file_bytes <= 0 or cfg.limits.max_records <= 0:
        raise ConfigError("limits: max_file_bytes et max_records doivent être positifs")
    _check_web(cfg.web)
    _check_alerts(cfg.alerts)
    for key in ("heartbeat_seconds", "timeout_seconds", "idle_transaction_seconds"):
        if getattr(cfg.locks, key) <= 0:
            raise ConfigError(f"locks.{key}: doit être strictement positif")
    if cfg.locks.timeout_seconds < 2 * cfg.locks.heartbeat_seconds:
        raise ConfigError("locks.timeout_seconds: doit valoir au moins deux fois locks.heartbeat_seconds")
    if cfg.source.settle_seconds < 0:
        raise ConfigError("source.settle_seconds: doit être positif ou nul")
    cfg.retention.durations()
    return cfg


def _check_web(web: WebConfig) -> None:
    host, _, port = web.bind.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"web.bind: « adresse:port » attendu (ex. 127.0.0.1:8080), pas {web.bind!r}")
    if web.base_path and (not web.base_path.startswith("/") or web.base_path.endswith("/")):
        raise ConfigError(f"web.base_path: un chemin commençant par « / », sans « / » final, pas {web.base_path!r}")
    if web.proxy_header and not web.trusted_proxies:
        raise ConfigError("web.trusted_proxies: obligatoire quand web.proxy_header est renseigné")
    if web.login_attempts <= 0 or web.login_window_seconds <= 0 or web.login_max_delay_seconds <= 0:
        raise ConfigError("web: login_attempts, login_max_delay_seconds et login_window_seconds doivent être positifs")
    if web.oidc.enabled and not (
        web.oidc.client_id and web.oidc.issuer.startswith(("https://", "http://127.", "http://localhost"))
    ):
        raise ConfigError(
            "web.oidc: client_id obligatoire, et issuer en https:// (http:// seulement sur la boucle locale)"
        )
    if web.session_idle_minutes <= 0:
        raise ConfigError("web.session_idle_minutes: doit être strictement positif")
    if web.verify_requests <= 0 or web.verify_window_seconds <= 0:
        raise ConfigError("web: verify_requests et verify_window_seconds doivent être positifs")
    if web.depot_cache_seconds < 0:
        raise ConfigError(
            "web.depot_cache_seconds: doit être positif ou nul (0 : la zone de dépôt relue chaque seconde)"
        )
    if web.depot_patience_seconds <= 0:
        raise ConfigError("web.depot_patience_seconds: doit être strictement positif")
    if web.public_url and not web.public_url.startswith(("https://", "http://")):
        raise ConfigError(f"web.public_url: une adresse http(s)://…, pas {web.public_url!r}")


def _check_alerts(alerts: AlertsConfig) -> None:
    if alerts.smtp_host and (not alerts.smtp_from or not alerts.smtp_to):
        raise ConfigError("alerts.smtp_from et alerts.smtp_to : obligatoires quand alerts.smtp_host est renseigné")
    if alerts.webhook_url and not alerts.webhook_url.startswith(("http://", "https://")):
        raise ConfigError(
            f"alerts.webhook_url : une adresse http:// ou https:// est attendue, pas {alerts.webhook_url!r}"
        )


def load_config(path: Path | None) -> Config:
    """The configuration from `path`, else ./esat-exchange.toml when present, else the defaults."""
    if path is None:
        default = Path("esat-exchange.toml")
        if not default.exists():
            return Config(base_dir=Path.cwd())
        path = default
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise ConfigError(f"fichier de configuration introuvable : {path}") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: TOML invalide ({e})") from e
    return parse_config(data, Path(path).resolve().parent)
