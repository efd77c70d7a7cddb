"""The SFTP drop area (paramiko): same semantics as the local one, one SSH connection per run."""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import socket
import stat
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import paramiko

from exchange.edges.transport.base import (
    REMOVABLE_FOLDERS,
    Entry,
    HostKeyError,
    Listing,
    Refused,
    TransportError,
    is_safe_name,
    sort_entries,
)
from exchange.edges.transport.batch_sync import BatchSync
from exchange.edges.transport.causes import french_cause
from exchange.edges.transport.sftp_pipeline import (
    Download,
    LimitsSftpClient,
    Pipeline,
    RemoteRefusal,
    ServerLimits,
    local_error,
)

if TYPE_CHECKING:
    from exchange.config import Config

T = TypeVar("T")

PASSPHRASE_ENV = "ESAT_EXCHANGE_SFTP_PASSPHRASE"
# Enough to keep the link busy with 16 MiB of READs in flight. Not more: with a 64 MiB window paramiko
# buffers so much of a large file that its channel reads turn quadratic (a 200 MB fetch took 13 s).
WINDOW_SIZE = 16 * 1024 * 1024
MAX_PACKET_SIZE = 256 * 1024  # one READ reply of 261,120 bytes (OpenSSH's maximum) + header: one packet
BACKOFF_FIRST = 0.5  # seconds; doubled at each retry
BACKOFF_MAX = 8.0


def _fingerprint(key: paramiko.PKey) -> str:
    return str(key.fingerprint)  # "SHA256:<base64 without padding>", as ssh-keygen -lf shows it


def _host_label(host: str, port: int) -> str:
    return f"{host}:{port}"


def host_key_message(host: str, port: int, key: paramiko.PKey, changed: bool) -> str:
    """The bilingual message of a refused host key (French for operators, English for logs)."""
    what_fr = "modifiée" if changed else "inconnue"
    what_en = "changed" if changed else "unknown"
    fp = _fingerprint(key)
    return (
        f"Clé d'hôte SFTP {what_fr} pour {_host_label(host, port)} ({key.get_name()}, empreinte {fp}) : "
        f"vérifiez-la auprès de l'administrateur du serveur et ajoutez-la à known_hosts ; "
        f"rien n'a été lu ni écrit. / {what_en.capitalize()} SFTP host key for "
        f"{_host_label(host, port)} ({key.get_name()}, fingerprint {fp}): verify it with the server's "
        f"administrator and add it to known_hosts; nothing was read or written."
    )


class _RefuseUnknownHost(paramiko.RejectPolicy):  # type: ignore[misc]  # paramiko ships no types
    """RejectPolicy that raises HostKeyError carrying the key's fingerprint."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        raise HostKeyError(host_key_message(self.host, self.port, key, changed=False))


def _aead_first(sock: object, **kwargs: object) -> paramiko.Transport:
    """paramiko's Transport preferring AES-GCM when the server offers it: no per-packet HMAC, whose check
    paramiko does byte by byte in Python (a fifth of a big download's CPU); the other ciphers follow."""
    transport = paramiko.Transport(sock, **kwargs)
    options = transport.get_security_options()
    gcm = tuple(c for c in options.ciphers if c.endswith("-gcm@openssh.com"))
    options.ciphers = gcm + tuple(c for c in options.ciphers if c not in gcm)
    return transport


class _Permanent(Refused):
    """A failure retrying cannot fix (authentication, missing remote file, refused name)."""


def _server_refusal(e: BaseException) -> bool:
    """An SFTP status error: the server answered, the connection is fine."""
    return (
        isinstance(e, OSError)
        and not isinstance(e, (socket.timeout, ConnectionError))
        and (e.errno is not None or type(e) in (OSError, IOError))
    )


class SftpTransport:
    """Transport over SFTP: `root` on the server holds one folder per account (depot/, retour/, archive/)."""

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        private_key: Path,
        known_hosts: Path,
        root: str = "/",
        passphrase: str | None = None,
        timeout: float = 30,
        retries: int = 3,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.host, self.port, self.username = host, port, username
        self.private_key, self.known_hosts = Path(private_key), Path(known_hosts)
        self.root = root.rstrip("/") or "/"
        self.passphrase = passphrase
        self.timeout = timeout
        self.retries = max(0, retries)
        self._sleep = sleep
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._limits = ServerLimits()
        self.connections = 0  # connections opened during this run (1 unless one died and was reopened)

    @classmethod
    def from_config(
        cls,
        config: Config,
        environ: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> SftpTransport:
        """From [source]: key and known_hosts resolved against the configuration's folder."""
        src = config.source
        env = os.environ if environ is None else environ
        return cls(
            host=src.host,
            port=src.port,
            username=src.username,
            private_key=config.path(src.private_key),
            known_hosts=config.path(src.known_hosts),
            root=src.root,
            passphrase=env.get(PASSPHRASE_ENV) or None,
            timeout=src.timeout_seconds,
            retries=src.retries,
            sleep=sleep,
        )

    # ---- connection -------------------------------------------------------------------------

    def _load_key(self) -> paramiko.PKey:
        try:
            password = self.passphrase.encode("utf-8") if self.passphrase is not None else None
            return paramiko.PKey.from_path(self.private_key, password)
        except (paramiko.PasswordRequiredException, TypeError) as e:
            # paramiko raises TypeError (from cryptography) for an OpenSSH-format key without passphrase
            if self.passphrase is None:
                raise _Permanent(
                    f"clé privée SFTP {self.private_key} protégée par une phrase secrète : "
                    f"définissez la variable d'environnement {PASSPHRASE_ENV}"
                ) from e
            raise _Permanent(f"clé privée SFTP illisible {self.private_key} : {e}") from e
        except PermissionError as e:  # root's 0600 key: the service user cannot read it (docs/operations.md §0.6)
            import getpass

            raise _Permanent(
                f"clé privée SFTP {self.private_key} illisible par l'utilisateur du service ({getpass.getuser()}) : "
                "elle doit lui appartenir (chown, chmod 0600)"
            ) from e
        except FileNotFoundError as e:
            raise _Permanent(f"clé privée SFTP introuvable : {self.private_key}") from e
        except (OSError, paramiko.SSHException, ValueError) as e:
            raise _Permanent(f"clé privée SFTP illisible {self.private_key} (phrase secrète erronée ?) : {e}") from e

    def _connect(self) -> None:
        key = self._load_key()
        if not self.known_hosts.is_file():
            raise HostKeyError(
                f"fichier known_hosts introuvable : {self.known_hosts} ; il est obligatoire "
                f"(voir docs/sftp.md) / known_hosts file not found: {self.known_hosts}"
            )
        client = paramiko.SSHClient()
        try:
            client.load_host_keys(str(self.known_hosts))
        except (OSError, paramiko.SSHException, ValueError) as e:
            raise HostKeyError(f"fichier known_hosts illisible {self.known_hosts} : {e}") from e
        client.set_missing_host_key_policy(_RefuseUnknownHost(self.host, self.port))
        try:
            client.connect(
                self.host,
                port=self.port,
                username=self.username,
                pkey=key,
                timeout=self.timeout,
                banner_timeout=self.timeout,
                auth_timeout=self.timeout,
                channel_timeout=self.timeout,
                allow_agent=False,
                look_for_keys=False,
                transport_factory=_aead_first,
            )
            transport = client.get_transport()
            assert transport is not None
            transport.set_keepalive(max(1, int(self.timeout)))
            sftp = LimitsSftpClient.from_transport(transport, window_size=WINDOW_SIZE, max_packet_size=MAX_PACKET_SIZE)
            if sftp is None:
                raise paramiko.SSHException("SFTP subsystem refused")
            sftp.get_channel().settimeout(self.timeout)
            try:
                limits = sftp.server_limits()
            except OSError as e:  # refused by the server (not a broken link): OpenSSH's values
                if not _server_refusal(e):
                    raise
                limits = ServerLimits()
        except HostKeyError:
            client.close()
            raise
        except paramiko.BadHostKeyException as e:
            client.close()
            raise HostKeyError(host_key_message(self.host, self.port, e.key, changed=True)) from e
        except paramiko.AuthenticationException as e:
            client.close()
            raise _Permanent(
                f"authentification SFTP refusée pour {self.username}@{_host_label(self.host, self.port)} "
                f"avec la clé {self.private_key}"
            ) from e
        except BaseException:
            client.close()
            raise
        self._client, self._sftp, self._limits = client, sftp, limits
        self.connections += 1

    def _close(self) -> None:
        sftp, client = self._sftp, self._client
        self._sftp = self._client = None
        for thing in (sftp, client):
            if thing is not None:
                with contextlib.suppress(Exception):  # closing a dead connection
                    thing.close()

    def _alive(self) -> bool:
        if self._client is None or self._sftp is None:
            return False
        transport = self._client.get_transport()
        return bool(transport and transport.is_active() and not self._sftp.get_channel().closed)

    def _run(self, what: str, op: Callable[[paramiko.SFTPClient], T]) -> T:
        """Run `op` with the SFTP session, reconnecting and retrying transient failures."""
        delay = BACKOFF_FIRST
        last: BaseException | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)
            try:
                if not self._alive():
                    self._close()
                    self._connect()
                assert self._sftp is not None
                return op(self._sftp)
            except TransportError as e:
                if not e.transient:
                    raise
                last = e
            except (paramiko.SSHException, paramiko.SFTPError, EOFError, OSError) as e:
                if self._alive() and _server_refusal(e):
                    raise _Permanent(f"{what} : refusé par le serveur SFTP ({french_cause(e)})") from e
                last = e
                self._close()  # a timeout or a broken link: start again on a fresh connection
        raise TransportError(
            f"{what} : serveur SFTP {_host_label(self.host, self.port)} injoignable ou connexion "
            f"coupée après {self.retries + 1} tentative{'s' if self.retries else ''} : {french_cause(last, self.timeout)}"
        ) from last

    def __enter__(self) -> SftpTransport:
        def op(sftp: paramiko.SFTPClient) -> None:
            try:
                attrs = sftp.stat(self.root)  # the configured root itself may be a link
            except OSError as e:
                if not (self._alive() and _server_refusal(e)):
                    raise
                raise _Permanent(f"dossier de dépôt SFTP introuvable : {self.root} ({french_cause(e)})") from e
            if not stat.S_ISDIR(attrs.st_mode or 0):
                raise _Permanent(f"dossier de dépôt SFTP introuvable : {self.root}")

        try:
            self._run(f"connexion à {_host_label(self.host, self.port)}", op)
        except BaseException:
            self._close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._close()

    # ---- paths ------------------------------------------------------------------------------

    def _account_dir(self, account: str) -> str:
        if not is_safe_name(account):
            raise _Permanent(f"nom de compte refusé : {account!r}")
        return posixpath.join(self.root, account)

    def _path(self, account: str, folder: str, name: str) -> str:
        if not is_safe_name(name):
            raise _Permanent(f"nom de fichier refusé : {name!r}")
        return posixpath.join(self._account_dir(account), folder, name)

    @staticmethod
    def _lstat(sftp: paramiko.SFTPClient, path: str) -> paramiko.SFTPAttributes | None:
        try:
            return sftp.lstat(path)
        except FileNotFoundError:
            return None
        except OSError as e:
            if e.errno == errno.ENOENT:
                return None
            raise

    def _ensure_dir(self, sftp: paramiko.SFTPClient, path: str) -> None:
        attrs = self._lstat(sftp, path)
        if attrs is None:
            try:
                sftp.mkdir(path)
            except OSError:
                attrs = self._lstat(sftp, path)  # created meanwhile by someone else?
                if attrs is None:
                    raise
        if attrs is not None and not stat.S_ISDIR(attrs.st_mode or 0):
            raise _Permanent(f"{path} n'est pas un dossier (lien ou fichier) : refusé")

    # ---- the Transport protocol -------------------------------------------------------------

    def accounts(self) -> list[str]:
        def op(sftp: paramiko.SFTPClient) -> list[str]:
            found = []
            for attrs in _listdir(sftp, self.root):
                name = attrs.filename
                # listdir_attr reports lstat attributes: a symlinked account is not a folder
                if not is_safe_name(name) or not stat.S_ISDIR(attrs.st_mode or 0):
                    continue
                depot = self._lstat(sftp, posixpath.join(self.root, name, "depot"))
                if depot is not None and stat.S_ISDIR(depot.st_mode or 0):
                    found.append(name)
            return sorted(found)

        return self._run(f"liste des comptes de {self.root}", op)

    def depot_snapshot(self) -> dict[str, list[Entry] | None]:
        """Every account of accounts() with what list_depot finds in its depot/ (None where the server refuses
        the listing), the lstat and listings pipelined on the session: thousands of accounts in a few round
        trips' time instead of five round trips each (`status`, the console's dashboard)."""
        from exchange.edges.transport.sftp_listing import listdir_many, lstat_many

        def op(sftp: paramiko.SFTPClient) -> dict[str, list[Entry] | None]:
            names = [
                a.filename
                for a in _listdir(sftp, self.root)
                if is_safe_name(a.filename) and stat.S_ISDIR(a.st_mode or 0)
            ]
            depots = {name: posixpath.join(self.root, name, "depot") for name in names}
            found = lstat_many(sftp, list(depots.values()))
            for attrs in found.values():
                if isinstance(attrs, OSError):
                    raise attrs  # as accounts() would: the server refuses to tell what the root holds
            accounts = sorted(n for n in names if _is_dir(found[depots[n]]))
            listed = listdir_many(sftp, [depots[a] for a in accounts])
            out: dict[str, list[Entry] | None] = {}
            for account in accounts:
                entries = listed[depots[account]]
                if isinstance(entries, UnicodeDecodeError) or (
                    isinstance(entries, OSError) and _server_refusal(entries)
                ):
                    out[account] = None  # list_depot refuses this account (Refused): it counts nothing
                    continue
                if isinstance(entries, Exception):
                    raise entries
                out[account] = [
                    Entry(account, a.filename, a.st_size or 0, float(a.st_mtime or 0), stat.S_ISREG(a.st_mode or 0))
                    for a in entries
                ]
            return out

        return self._run(f"liste des dépôts de {self.root}", op)

    def list_depot(self, account: str, now: float, settle_seconds: float) -> Listing:
        depot = posixpath.join(self._account_dir(account), "depot")

        def op(sftp: paramiko.SFTPClient) -> list[Entry]:
            return [
                Entry(account, a.filename, a.st_size or 0, float(a.st_mtime or 0), stat.S_ISREG(a.st_mode or 0))
                for a in _listdir(sftp, depot)
            ]

        return sort_entries(self._run(f"lecture de {depot}", op), now, settle_seconds)

    def read_retour(self, account: str, name: str) -> bytes | None:
        path = self._path(account, "retour", name)

        def op(sftp: paramiko.SFTPClient) -> bytes | None:
            try:
                with sftp.open(path, "rb") as f:
                    f.prefetch()
                    data: bytes = f.read()
                    return data
            except FileNotFoundError:
                return None

        return self._run(f"lecture de {path}", op)

    def depot_count(self, account: str) -> int:
        depot = posixpath.join(self._account_dir(account), "depot")

        def op(sftp: paramiko.SFTPClient) -> int:
            try:
                return len(_listdir(sftp, depot))
            except OSError as e:
                if self._alive() and _server_refusal(e):
                    return 0
                raise

        return self._run(f"comptage de {depot}", op)

    def fetch(self, entry: Entry, dest: Path, max_bytes: int | None = None) -> None:
        """One file, through the same pipelined READs as fetch_many, fsync'd."""
        error = self.fetch_many([(entry, dest)], max_bytes)[0]
        if error is not None:
            raise error

    def _entry(self, sftp: paramiko.SFTPClient, account: str, folder: str, name: str) -> Entry | None:
        attrs = self._lstat(sftp, self._path(account, folder, name))
        if attrs is None:
            return None
        return Entry(
            account, name, attrs.st_size or 0, float(attrs.st_mtime or 0), stat.S_ISREG(attrs.st_mode or 0), folder
        )

    def claim(self, account: str, name: str, claim: str) -> Entry | None:
        src = self._path(account, "depot", name)
        dst = self._path(account, "archive", claim)

        def op(sftp: paramiko.SFTPClient) -> Entry | None:
            earlier = self._entry(sftp, account, "archive", claim)
            if earlier is not None:  # claimed by an earlier attempt: depot/<name> now is another upload
                return earlier
            if self._lstat(sftp, src) is None:
                return None
            self._ensure_dir(sftp, posixpath.dirname(dst))
            sftp.rename(src, dst)  # plain SFTP rename never replaces an existing name
            return self._entry(sftp, account, "archive", claim)

        return self._run(f"prise en charge de {src}", op)

    def fetch_many(self, jobs: list[tuple[Entry, Path]], max_bytes: int | None = None) -> list[Exception | None]:
        """Many files in flight on the connection (see Pipeline); a broken link reconnects and retries only
        the files without a result, from scratch. Retries and backoff as `_run`, counted since the last
        attempt that finished a file: a batch that moves on between cuts keeps its budget."""
        results: list[Exception | None] = [None] * len(jobs)
        downloads: list[Download] = []
        for i, (entry, dest) in enumerate(jobs):
            try:
                src = self._path(entry.account, entry.folder, entry.name)
            except TransportError as e:
                results[i] = e
                continue
            if not entry.regular:
                results[i] = RemoteRefusal(f"{src} n'est pas un fichier ordinaire : pas téléchargé")
                continue
            downloads.append(Download(i, src, entry.size, Path(dest)))
        fsync_each = len(downloads) <= 1  # one file: its fsync; a batch: one syncfs (see BatchSync)
        copied: list[Path] = []
        with BatchSync([d.dest for d in downloads] if not fsync_each else []) as batch:
            todo = downloads
            failures, delay = 0, BACKOFF_FIRST
            last: BaseException | None = None
            while todo:
                if failures > self.retries:
                    for d in todo:
                        results[d.index] = TransportError(
                            f"téléchargement de {d.src} : serveur SFTP {_host_label(self.host, self.port)} "
                            f"injoignable ou connexion coupée après {failures} tentative{'s' if failures > 1 else ''} : "
                            f"{last if isinstance(last, TransportError) else french_cause(last, self.timeout)}"
                        )
                    break
                if failures:
                    self._sleep(delay)
                    delay = min(delay * 2, BACKOFF_MAX)
                pipeline: Pipeline | None = None
                try:
                    if not self._alive():
                        self._close()
                        self._connect()
                    assert self._sftp is not None
                    pipeline = Pipeline(self._sftp, todo, max_bytes, self._limits, fsync_each)
                    pipeline.run()
                except TransportError as e:  # from _connect: host key raised, the others are each file's
                    if isinstance(e, HostKeyError):
                        raise
                    if not e.transient:
                        for d in todo:
                            results[d.index] = e
                        break
                    last = e
                except (paramiko.SSHException, paramiko.SFTPError, EOFError, OSError) as e:
                    last = e
                    self._close()  # a timeout or a broken link: the rest on a fresh connection
                finished = pipeline.results if pipeline is not None else {}
                for index, error in finished.items():
                    results[index] = error
                copied += pipeline.written if pipeline is not None else []
                todo = [d for d in todo if d.index not in finished]
                if todo:  # this attempt failed: counted from the last one that finished a file
                    failures = 1 if finished else failures + 1
                    if finished:
                        delay = BACKOFF_FIRST
            errors = batch.make_durable(copied) if not fsync_each else {}
        for d in downloads:
            if d.dest in errors and results[d.index] is None:
                results[d.index] = local_error(d.dest, errors[d.dest])
        return results

    def sync(self) -> None:
        """Nothing to do: each SFTP request is answered once the server applied it (its own disk's durability)."""

    def free_archive_name(self, account: str, name: str, suffix: str) -> str:
        if not is_safe_name(f"{name}.{suffix}"):
            raise _Permanent(f"suffixe d'archive refusé : {suffix!r}")
        path = self._path(account, "archive", name)
        return self._run(
            f"lecture de {path}", lambda sftp: name if self._lstat(sftp, path) is None else f"{name}.{suffix}"
        )

    def archive_claim(self, account: str, claim: str, target: str) -> bool:
        src = self._path(account, "archive", claim)
        dst = self._path(account, "archive", target)

        def op(sftp: paramiko.SFTPClient) -> bool:
            if self._lstat(sftp, src) is None:  # moved by an earlier attempt (or never claimed)
                return self._lstat(sftp, dst) is not None
            if self._lstat(sftp, dst) is not None:
                raise _Permanent(f"archive/{target} existe déjà pour le compte {account} : rien n'est remplacé")
            sftp.rename(src, dst)
            return True

        return self._run(f"archivage de {src}", op)

    def write_retour(self, account: str, name: str, data: bytes) -> None:
        final = self._path(account, "retour", name)
        part = self._path(account, "retour", f"{name}.part")
        retour = posixpath.dirname(final)

        def op(sftp: paramiko.SFTPClient) -> None:
            self._ensure_dir(sftp, retour)
            with sftp.open(part, "wb") as f:
                f.set_pipelined(True)
                f.write(data)
            try:
                sftp.chmod(part, 0o644)
                written = sftp.stat(part).st_size
                if written != len(data):
                    raise _Permanent(f"{part} : {written} octets écrits sur {len(data)}")
                _replace(sftp, part, final)
            except BaseException:
                if self._alive():
                    with contextlib.suppress(OSError):
                        sftp.remove(part)
                raise

        self._run(f"écriture de {final}", op)

    def rename_retour(self, account: str, old: str, new: str) -> bool:
        src = self._path(account, "retour", old)
        dst = self._path(account, "retour", new)

        def op(sftp: paramiko.SFTPClient) -> bool:
            if self._lstat(sftp, src) is None or self._lstat(sftp, dst) is not None:
                return False  # nothing to keep, or already kept: never overwritten
            sftp.rename(src, dst)  # plain SFTP rename never replaces
            return True

        return self._run(f"renommage de {src}", op)

    def remove(self, account: str, folder: str, name: str) -> bool:
        if folder not in REMOVABLE_FOLDERS:
            raise _Permanent(f"suppression refusée hors de archive/ et retour/ : {folder}/{name}")
        path = self._path(account, folder, name)

        def op(sftp: paramiko.SFTPClient) -> bool:
            attrs = self._lstat(sftp, path)
            if attrs is None:
                return False
            if stat.S_ISDIR(attrs.st_mode or 0):
                raise _Permanent(f"{path} est un dossier : non supprimé")
            try:
                sftp.remove(path)  # SSH_FXP_REMOVE: a link is removed itself, never what it points to
            except FileNotFoundError:
                return False  # removed meanwhile
            return True

        return self._run(f"suppression de {path}", op)


def _is_dir(attrs: object) -> bool:
    """An lstat answer (attributes, an error or None) that names a folder."""
    return isinstance(attrs, paramiko.SFTPAttributes) and stat.S_ISDIR(attrs.st_mode or 0)


def _listdir(sftp: paramiko.SFTPClient, path: str) -> list[paramiko.SFTPAttributes]:
    """listdir_attr (lstat semantics on OpenSSH); a non-UTF-8 name is reported, never guessed."""
    try:
        found: list[paramiko.SFTPAttributes] = sftp.listdir_attr(path)
        return found
    except UnicodeDecodeError as e:
        raise _Permanent(
            f"{path} contient un nom de fichier qui n'est pas en UTF-8 : renommez-le sur le serveur"
        ) from e


def _replace(sftp: paramiko.SFTPClient, src: str, dst: str) -> None:
    """Rename src over dst: atomic with posix-rename@openssh.com, else remove + rename."""
    try:
        sftp.posix_rename(src, dst)
        return
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.EACCES):
            raise
    # server without posix-rename: not atomic, but never leaves both names missing for long
    try:
        sftp.remove(dst)
    except OSError as e:
        if e.errno != errno.ENOENT and not isinstance(e, FileNotFoundError):
            raise
    sftp.rename(src, dst)


__all__ = ["SftpTransport", "PASSPHRASE_ENV", "host_key_message"]
