"""Many SFTP downloads in flight on one session: pipelined requests, local copies written as replies arrive."""

from __future__ import annotations

import errno
import os
import stat
import struct
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import paramiko
from paramiko.message import Message
from paramiko.sftp import (
    CMD_ATTRS,
    CMD_CLOSE,
    CMD_DATA,
    CMD_EXTENDED,
    CMD_EXTENDED_REPLY,
    CMD_FSTAT,
    CMD_HANDLE,
    CMD_INIT,
    CMD_LSTAT,
    CMD_OPEN,
    CMD_READ,
    CMD_STATUS,
    CMD_VERSION,
    SFTP_EOF,
    SFTP_FLAG_READ,
    SFTP_NO_SUCH_FILE,
    SFTP_OK,
    SFTP_PERMISSION_DENIED,
    SFTPError,
    int64,
)
from paramiko.sftp_attr import SFTPAttributes

from exchange.edges.transport.base import FileTooLarge, TransportError
from exchange.edges.transport.causes import french_cause
from exchange.errors import TerminalError

OPENSSH_MAX_READ = 261_120  # OpenSSH sftp-server's SFTP_MAX_READ_LENGTH, used when the server tells nothing
FILES_IN_FLIGHT = 64  # files open at once on one session
BYTES_IN_FLIGHT = 16 * 1024 * 1024  # READ bytes asked and not yet answered (the channel's window)
LIMITS_EXTENSION = b"limits@openssh.com"
RECV_CHUNK = 16 * 1024 * 1024  # what one read from the channel may take (its whole window)


class RemoteRefusal(TransportError, TerminalError):
    """This file cannot be copied (refused by the server, not a regular file, changed): retrying will not help."""

    transient = False
    stops_run = False


class LocalCopyFailed(TransportError, TerminalError):
    """The local copy of a downloaded file could not be written (a full or read-only disk): the file waits in
    depot/ for the next run, the others go on."""

    transient = False
    stops_run = False


@dataclass(frozen=True)
class ServerLimits:
    """What the server accepts (limits@openssh.com), or what an OpenSSH server accepts when it does not say."""

    max_read: int = OPENSSH_MAX_READ
    max_open_handles: int = 0  # 0: not said
    advertised: bool = False  # the server said them


class LimitsSftpClient(paramiko.SFTPClient):  # type: ignore[misc]  # paramiko ships no types
    """paramiko's SFTPClient that keeps the extensions the server advertises (paramiko drops them)."""

    extensions: dict[bytes, bytes]

    def _send_version(self) -> int:
        m = Message()
        m.add_int(3)
        self._send_packet(CMD_INIT, m)
        t, data = self._read_packet()
        if t != CMD_VERSION:
            raise SFTPError("Incompatible sftp protocol")
        self.extensions = _extension_pairs(data[4:])
        version: int = struct.unpack(">I", data[:4])[0]
        return version

    def _read_all(self, n: int) -> bytes:
        """n bytes from the channel, taken from it in large pieces: paramiko's own reads of 4 bytes, then of
        one packet, each cut the front off the channel's buffer (up to the whole window), which turns a fast
        download quadratic; a bytearray drops its front in constant time."""
        buf: bytearray | None = getattr(self, "_inbuf", None)
        if buf is None:
            buf = self._inbuf = bytearray()
        while len(buf) < n:
            data = self.sock.recv(max(n - len(buf), RECV_CHUNK))
            if not data:
                raise EOFError()
            buf += data
        out = bytes(buf[:n])
        del buf[:n]
        return out

    def server_limits(self) -> ServerLimits:
        """The server's limits@openssh.com reply (one round trip) when it advertises the extension."""
        if LIMITS_EXTENSION not in getattr(self, "extensions", {}):
            return ServerLimits()
        t, msg = self._request(CMD_EXTENDED, LIMITS_EXTENSION)
        if t != CMD_EXTENDED_REPLY or msg is None:
            return ServerLimits()
        msg.get_int64()  # max-packet-length: our requests are far smaller
        max_read = msg.get_int64()
        msg.get_int64()  # max-write-length
        handles = msg.get_int64()
        return ServerLimits(max_read=max_read or OPENSSH_MAX_READ, max_open_handles=handles, advertised=True)


def _extension_pairs(data: bytes) -> dict[bytes, bytes]:
    """The (name, data) string pairs after the version number of SSH_FXP_VERSION."""
    out: dict[bytes, bytes] = {}
    pos = 0
    try:
        while pos + 4 <= len(data):
            (n,) = struct.unpack_from(">I", data, pos)
            name = data[pos + 4 : pos + 4 + n]
            pos += 4 + n
            (m,) = struct.unpack_from(">I", data, pos)
            out[bytes(name)] = bytes(data[pos + 4 : pos + 4 + m])
            pos += 4 + m
    except struct.error:
        pass  # a truncated list: keep what was whole
    return out


@dataclass
class Download:
    """One file to copy: its place in the caller's list, the remote path, its listed size, the local file."""

    index: int
    src: str
    listed_size: int
    dest: Path


def local_error(dest: Path, e: OSError) -> LocalCopyFailed:
    """A local disk error is not a network error: never retried on a new connection."""
    return LocalCopyFailed(f"écriture locale impossible de {dest} : {e}")


def _status_error(code: int, text: str) -> OSError:
    """The OSError paramiko raises for an SFTP status (same errno mapping)."""
    if code == SFTP_NO_SUCH_FILE:
        return OSError(errno.ENOENT, text)
    if code == SFTP_PERMISSION_DENIED:
        return OSError(errno.EACCES, text)
    return OSError(text)


class _Job:
    """The state of one download in flight."""

    __slots__ = ("d", "path", "handle", "size", "fd", "next_offset", "received", "eof", "pending", "closed")

    def __init__(self, d: Download) -> None:
        self.d = d
        self.path = d.src.encode("utf-8")
        self.handle: bytes | None = None
        self.size = 0
        self.fd: int | None = None
        self.next_offset = 0  # next byte to ask for; asking ends at size + 1 (one byte past: growth shows)
        self.received = 0
        self.eof = False  # the server said the file ends at `size`
        self.pending = 0  # READs asked, not answered
        self.closed = False


class Pipeline:
    """Copies many files over one SFTP session with many requests in flight.

    Per file: LSTAT (a regular file, not a link: never opened otherwise), OPEN, FSTAT (the opened handle
    is a regular file of the listed size, within max_bytes — else FileTooLarge before any READ), READs of
    the server's maximum length covering the size plus one byte (a file that grew shows; a small file is
    one READ), each written with pwrite as it arrives, then CLOSE. A failure on one file is that file's
    result; an exception out of run() is the session's (broken link, timeout): the files without a
    result are to be retried on a new session, from scratch.
    """

    def __init__(
        self,
        sftp: paramiko.SFTPClient,
        downloads: list[Download],
        max_bytes: int | None,
        limits: ServerLimits,
        fsync_each: bool,
        files_in_flight: int = FILES_IN_FLIGHT,
        bytes_in_flight: int = BYTES_IN_FLIGHT,
    ) -> None:
        self.sftp = sftp
        self.max_bytes = max_bytes
        self.read_size = max(1, min(limits.max_read, bytes_in_flight))
        self.eof_on_short_read = limits.advertised  # a short READ within the server's maximum is the end of file
        if limits.max_open_handles > 8:
            files_in_flight = min(files_in_flight, limits.max_open_handles - 4)
        self.files_in_flight = max(1, files_in_flight)
        self.bytes_in_flight = bytes_in_flight
        self.fsync_each = fsync_each
        self.todo = deque(_Job(d) for d in downloads)
        self.open_jobs = 0  # started, without a result yet
        self.readers: deque[_Job] = deque()  # jobs with READs still to ask
        self.active: set[_Job] = set()  # jobs with a local file open
        self.asked_bytes = 0
        self.requests: dict[int, tuple[_Job, int, int, int]] = {}  # request id → job, command, offset, length
        self.results: dict[int, Exception | None] = {}  # Download.index → None (copied) or its error
        self.written: list[Path] = []  # copied files, in the order they were finished

    # ---- driving ---------------------------------------------------------------------------

    def run(self) -> None:
        """Until every download has a result and every reply has arrived."""
        try:
            self._pump()
            while self.requests:
                self.sftp._read_response()  # one reply, handed to _async_response
                self._pump()
        finally:
            self._close_local_files()

    def _pump(self) -> None:
        while self.todo and self.open_jobs < self.files_in_flight:
            job = self.todo.popleft()
            self.open_jobs += 1
            self._send(job, CMD_LSTAT, job.path)
        while self.readers and self.asked_bytes < self.bytes_in_flight:
            job = self.readers[0]
            if job.closed:
                self.readers.popleft()
                continue
            end = job.size + 1
            length = min(self.read_size, end - job.next_offset)
            self._read(job, job.next_offset, length)
            job.next_offset += length
            if job.next_offset >= end:
                self.readers.popleft()

    def _send(self, job: _Job, cmd: int, *args: object) -> None:
        num = self.sftp._async_request(self, cmd, *args)
        self.requests[num] = (job, cmd, 0, 0)

    def _read(self, job: _Job, offset: int, length: int) -> None:
        num = self.sftp._async_request(self, CMD_READ, job.handle, int64(offset), length)
        self.requests[num] = (job, CMD_READ, offset, length)
        job.pending += 1
        self.asked_bytes += length

    def _async_response(self, t: int, msg: Message, num: int) -> None:
        """paramiko's callback for a reply to one of our requests."""
        job, cmd, offset, length = self.requests.pop(num)
        if cmd == CMD_READ:
            job.pending -= 1
            self.asked_bytes -= length
        if job.closed:
            return  # a reply for a file already finished (a READ after an error, a CLOSE)
        try:
            if t == CMD_STATUS:
                self._on_status(job, cmd, offset, msg.get_int(), msg.get_text())
            elif cmd == CMD_LSTAT and t == CMD_ATTRS:
                self._on_lstat(job, SFTPAttributes._from_msg(msg))
            elif cmd == CMD_OPEN and t == CMD_HANDLE:
                job.handle = msg.get_binary()
                self._send(job, CMD_FSTAT, job.handle)
            elif cmd == CMD_FSTAT and t == CMD_ATTRS:
                self._on_fstat(job, SFTPAttributes._from_msg(msg))
            elif cmd == CMD_READ and t == CMD_DATA:
                self._on_data(job, offset, length, msg.get_string())
            else:
                raise SFTPError(f"réponse SFTP inattendue ({t}) à la requête {cmd}")
        except TransportError as e:  # this file's failure; a broken link (socket, EOF, SSH) goes up
            self._finish(job, e)

    # ---- one file's steps ------------------------------------------------------------------

    def _on_status(self, job: _Job, cmd: int, offset: int, code: int, text: str) -> None:
        if cmd == CMD_READ and code == SFTP_EOF:
            if offset < job.size:
                raise RemoteRefusal(
                    f"{job.d.src} : {job.received} octets reçus sur {job.size} annoncés (fichier modifié pendant "
                    f"la lecture ?) : copie incomplète"
                )
            job.eof = True
            self._maybe_done(job)
            return
        if code == SFTP_OK:
            raise SFTPError(f"réponse SFTP inattendue (statut OK) à la requête {cmd}")
        raise RemoteRefusal(
            f"téléchargement de {job.d.src} : refusé par le serveur SFTP ({french_cause(_status_error(code, text))})"
        )

    def _on_lstat(self, job: _Job, attrs: SFTPAttributes) -> None:
        if not stat.S_ISREG(attrs.st_mode or 0):  # a link, folder, FIFO…: never opened
            raise RemoteRefusal(f"{job.d.src} n'est pas un fichier ordinaire : pas téléchargé")
        self._send(job, CMD_OPEN, job.path, SFTP_FLAG_READ, SFTPAttributes())

    def _on_fstat(self, job: _Job, attrs: SFTPAttributes) -> None:
        if not stat.S_ISREG(attrs.st_mode or 0):
            raise RemoteRefusal(f"{job.d.src} n'est pas un fichier ordinaire : pas téléchargé")
        size = attrs.st_size or 0
        if self.max_bytes is not None and size > self.max_bytes:
            raise FileTooLarge(size, self.max_bytes)
        if size != job.d.listed_size:
            raise RemoteRefusal(
                f"{job.d.src} a changé depuis sa liste ({job.d.listed_size} octets listés, "
                f"{size} à l'ouverture) : copie refusée"
            )
        job.size = size
        try:  # truncates what an interrupted attempt left
            job.fd = os.open(job.d.dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        except OSError as e:
            raise local_error(job.d.dest, e) from e
        self.active.add(job)
        self.readers.append(job)

    def _on_data(self, job: _Job, offset: int, length: int, data: bytes) -> None:
        got = len(data)
        if not got:  # never asked-for nothing: an empty reply would make the rest be asked for again forever
            raise RemoteRefusal(f"{job.d.src} : réponse SFTP vide à une lecture : copie refusée")
        if offset + got > job.size or got > length:
            raise RemoteRefusal(f"{job.d.src} a changé pendant la lecture : copie refusée")
        assert job.fd is not None
        try:
            written = os.pwrite(job.fd, data, offset)
            while written < got:  # a short local write (rare): the rest
                written += os.pwrite(job.fd, data[written:], offset + written)
        except OSError as e:
            raise local_error(job.d.dest, e) from e
        job.received += got
        if got < length:
            end = offset + got
            if end == job.size and self.eof_on_short_read:
                job.eof = True  # the server gives what is asked or up to the end (its maximum is known)
            elif end < job.size or not job.eof:
                self._read(job, end, length - got)  # the rest of this range: a smaller maximum, or the end
        self._maybe_done(job)

    def _maybe_done(self, job: _Job) -> None:
        if job.eof and job.received == job.size and job.next_offset > job.size:
            self._finish(job, None)

    def _finish(self, job: _Job, error: Exception | None) -> None:
        """The file's result: copied (None) or its error; its handle closed, its local file closed."""
        job.closed = True
        self.open_jobs -= 1
        self.active.discard(job)
        if job.fd is not None:
            fd, job.fd = job.fd, None
            try:
                if error is None and self.fsync_each:
                    os.fsync(fd)
            except OSError as e:
                error = local_error(job.d.dest, e)
            finally:
                os.close(fd)
        self.results[job.d.index] = error
        if error is None:
            self.written.append(job.d.dest)
        else:  # a partial copy must not hold the space the next files need (Transport.fetch_many)
            Path(job.d.dest).unlink(missing_ok=True)
        if job.handle is not None:
            self._send(job, CMD_CLOSE, job.handle)  # its reply is only waited for, not judged

    def _close_local_files(self) -> None:
        """After a broken link: the unfinished files' local copies are closed (rewritten on the next try)."""
        for job in self.active:
            if job.fd is not None:
                os.close(job.fd)
                job.fd = None
        self.active.clear()
