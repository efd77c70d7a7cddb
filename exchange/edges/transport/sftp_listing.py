"""Many SFTP lstat and directory listings in flight on one session: every account's depot/ for `status`."""

from __future__ import annotations

import errno
import struct
from collections import deque
from typing import cast

import paramiko
from paramiko.message import Message
from paramiko.sftp import (
    CMD_ATTRS,
    CMD_CLOSE,
    CMD_HANDLE,
    CMD_LSTAT,
    CMD_NAME,
    CMD_OPENDIR,
    CMD_READDIR,
    CMD_STATUS,
    SFTP_EOF,
    SFTP_NO_SUCH_FILE,
    SFTP_PERMISSION_DENIED,
    SFTPError,
)
from paramiko.sftp_attr import SFTPAttributes

IN_FLIGHT = 64  # lstat requests, or folders open, at once (OpenSSH's sftp-server answers in order)
BATCH = 32  # requests written to the channel at once


def status_error(code: int, text: str) -> OSError:
    """The OSError paramiko raises for an SFTP status (same errno mapping as SFTPClient)."""
    if code == SFTP_NO_SUCH_FILE:
        return OSError(errno.ENOENT, text)
    if code == SFTP_PERMISSION_DENIED:
        return OSError(errno.EACCES, text)
    return OSError(text)


class _Pipeline:
    """Requests sent ahead on one SFTP session, their replies handed back by paramiko (_async_response).

    paramiko writes each request to the channel on its own (a packet and a socket write each: most of the
    time of 70,000 small requests); here they are queued and written BATCH at a time, while enough of
    them are still unanswered to keep the server busy."""

    def __init__(self, sftp: paramiko.SFTPClient, in_flight: int) -> None:
        self.sftp, self.in_flight = sftp, in_flight
        self.waiting: dict[int, tuple[object, int]] = {}  # request number → (what it is for, command)
        self.queued: list[bytes] = []
        self.unanswered = 0  # written and not yet answered

    def send(self, key: object, cmd: int, *args: bytes | int | str) -> None:
        """Queue one request, numbered and registered as paramiko's _async_request does."""
        sftp = self.sftp
        msg = Message()
        with sftp._lock:  # noqa: SLF001 - paramiko's request numbering
            num = sftp.request_number
            sftp._expecting[num] = self  # noqa: SLF001 - its reply comes back to _async_response
            sftp.request_number += 1
        msg.add_int(num)
        for item in args:
            if isinstance(item, int):
                msg.add_int(item)
            else:
                msg.add_string(item)
        body = msg.asbytes()
        self.queued.append(struct.pack(">IB", len(body) + 1, cmd) + body)
        self.waiting[num] = (key, cmd)

    def read_one(self) -> None:
        """Write what is queued when the server is running short of work, then take one reply."""
        if self.queued and (self.unanswered <= self.in_flight // 2 or len(self.queued) >= BATCH):
            self.sftp.sock.sendall(b"".join(self.queued))
            self.unanswered += len(self.queued)
            self.queued.clear()
        self.sftp._read_response()  # noqa: SLF001 - one reply, handed to _async_response

    def _async_response(self, t: int, msg: Message, num: int) -> None:
        key, cmd = self.waiting.pop(num)
        self.unanswered -= 1
        self.on_reply(key, cmd, t, msg)

    def on_reply(self, key: object, cmd: int, t: int, msg: Message) -> None:
        raise NotImplementedError


class _Lstats(_Pipeline):
    def __init__(self, sftp: paramiko.SFTPClient, paths: list[str], in_flight: int) -> None:
        super().__init__(sftp, in_flight)
        self.todo = deque(paths)
        self.found: dict[str, SFTPAttributes | OSError | None] = {}

    def run(self) -> dict[str, SFTPAttributes | OSError | None]:
        while self.todo or self.waiting:
            while self.todo and len(self.waiting) < self.in_flight:
                path = self.todo.popleft()
                self.send(path, CMD_LSTAT, path)
            if self.waiting:
                self.read_one()
        return self.found

    def on_reply(self, key: object, cmd: int, t: int, msg: Message) -> None:
        path = str(key)
        if t == CMD_ATTRS:
            self.found[path] = SFTPAttributes._from_msg(msg)  # noqa: SLF001
        elif t == CMD_STATUS:
            code, text = msg.get_int(), msg.get_text()
            self.found[path] = None if code == SFTP_NO_SUCH_FILE else status_error(code, text)
        else:
            raise SFTPError(f"réponse SFTP inattendue ({t}) à un lstat")


class _Listings(_Pipeline):
    """OPENDIR, READDIR until EOF, CLOSE, for many folders at once (at most `in_flight` open)."""

    def __init__(self, sftp: paramiko.SFTPClient, paths: list[str], in_flight: int) -> None:
        super().__init__(sftp, in_flight)
        self.todo = deque(paths)
        self.open = 0
        self.entries: dict[str, list[SFTPAttributes]] = {}
        self.errors: dict[str, Exception] = {}

    def run(self) -> dict[str, list[SFTPAttributes] | Exception]:
        while self.todo or self.waiting:
            while self.todo and self.open < self.in_flight:
                path = self.todo.popleft()
                self.open += 1
                self.entries[path] = []
                self.send(path, CMD_OPENDIR, path)
            if self.waiting:
                self.read_one()
        return {p: self.errors.get(p, e) for p, e in self.entries.items()}

    def on_reply(self, key: object, cmd: int, t: int, msg: Message) -> None:
        if cmd == CMD_CLOSE:  # listdir_attr's close: its answer changes nothing
            self.open -= 1
            return
        if cmd == CMD_OPENDIR:
            path = str(key)  # an OPENDIR's key: the folder
            if t == CMD_HANDLE:
                opened = msg.get_binary()
                self.send((path, opened), CMD_READDIR, opened)
            elif t == CMD_STATUS:
                self.errors[path] = status_error(msg.get_int(), msg.get_text())
                self.open -= 1
            else:
                raise SFTPError(f"réponse SFTP inattendue ({t}) à l'ouverture de {path}")
            return
        path, handle = cast(tuple[str, bytes], key)  # a READDIR's key: the folder and its handle
        if t == CMD_NAME and path not in self.errors:
            try:
                for _ in range(msg.get_int()):
                    filename = msg.get_text()  # a name that is not UTF-8 raises, as in listdir_attr
                    longname = msg.get_text()
                    attr = SFTPAttributes._from_msg(msg, filename, longname)  # noqa: SLF001
                    if filename not in (".", ".."):
                        self.entries[path].append(attr)
            except UnicodeDecodeError as e:
                self.errors[path] = e
            else:
                self.send((path, handle), CMD_READDIR, handle)
                return
        elif t == CMD_STATUS:
            code, text = msg.get_int(), msg.get_text()
            if code != SFTP_EOF:
                self.errors.setdefault(path, status_error(code, text))
        elif t != CMD_NAME:
            raise SFTPError(f"réponse SFTP inattendue ({t}) à la lecture de {path}")
        self.send((path, handle), CMD_CLOSE, handle)


def lstat_many(
    sftp: paramiko.SFTPClient,
    paths: list[str],
    in_flight: int = IN_FLIGHT,
) -> dict[str, SFTPAttributes | OSError | None]:
    """lstat of every path, pipelined: its attributes, None when it does not exist, or the server's refusal."""
    return _Lstats(sftp, paths, in_flight).run()


def listdir_many(
    sftp: paramiko.SFTPClient,
    paths: list[str],
    in_flight: int = IN_FLIGHT,
) -> dict[str, list[SFTPAttributes] | Exception]:
    """listdir_attr of every folder, pipelined (without `.` and `..`): its entries, or why it could not be
    listed (the server's refusal as an OSError, a name that is not UTF-8 as UnicodeDecodeError)."""
    return _Listings(sftp, paths, in_flight).run()
