"""One behavioural suite for every transport (local folder and real SFTP): formats.md §1 semantics."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from exchange.edges.transport.base import NOT_REGULAR_REASON, UNSAFE_REASON, Entry, Transport, TransportError
from exchange.edges.transport.factory import open_transport
from exchange.edges.transport.local import LocalTransport
from exchange.edges.transport.sftp import SftpTransport
from tests.conftest import make_config

NOW = 1_750_000_000.0  # a fixed "now": every mtime in these tests is set relative to it
OLD = NOW - 3600


@dataclass
class Drop:
    """A drop area seen from the test (a local folder) and through the transport under test."""

    kind: str
    root: Path
    make: Callable[[], Transport]

    def put(self, account: str, name: str, data: bytes = b"x", mtime: float = OLD, folder: str = "depot") -> Path:
        d = self.root / account / folder
        d.mkdir(parents=True, exist_ok=True)
        p = d / name
        p.write_bytes(data)
        os.utime(p, (mtime, mtime))
        return p


@pytest.fixture(params=["local", "sftp"])
def drop(request, tmp_path) -> Drop:
    if request.param == "local":
        root = tmp_path / "drop"
        root.mkdir()
        cfg = make_config(tmp_path)
        return Drop("local", root, lambda: open_transport(cfg))
    server = request.getfixturevalue("sftp_server")
    cfg = make_config(tmp_path, source=server.config_section())
    return Drop("sftp", server.root, lambda: open_transport(cfg))


def snapshot(root: Path) -> dict[str, str]:
    """Every name under root (links not followed) with its content hash, link target or 'dir'."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = "link:" + os.readlink(p)
            elif p.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def names(entries: list[Entry]) -> list[str]:
    return [e.name for e in entries]


def test_factory_builds_the_configured_kind(drop):
    t = drop.make()
    assert isinstance(t, LocalTransport if drop.kind == "local" else SftpTransport)


def test_accounts_are_real_folders_with_a_real_depot(drop, tmp_path):
    drop.put("bob", "a.csv")
    drop.put("alice", "a.csv")
    (drop.root / "carol").mkdir()  # no depot/
    (drop.root / "dave").mkdir()
    (drop.root / "dave" / "depot").write_text("a file, not a folder")
    (drop.root / "stray.txt").write_text("not an account")
    outside = tmp_path / "outside"
    (outside / "depot").mkdir(parents=True)
    (drop.root / "evil").symlink_to(outside)  # an account that is a link: never followed
    (drop.root / "erin").mkdir()
    (drop.root / "erin" / "depot").symlink_to(outside / "depot")  # depot/ that is a link
    with drop.make() as t:
        assert t.accounts() == ["alice", "bob"]


def test_partial_uploads_and_dotfiles_wait(drop):
    for name in ["ESAT_1.csv.part", "ESAT_2.csv.tmp", "ESAT_3.csv.PART", ".hidden", "ESAT_4.csv"]:
        drop.put("alice", name)
    with drop.make() as t:
        listing = t.list_depot("alice", NOW, 0)
    assert names(listing.ready) == ["ESAT_4.csv"]
    assert sorted(names(listing.waiting)) == [".hidden", "ESAT_1.csv.part", "ESAT_2.csv.tmp", "ESAT_3.csv.PART"]
    assert listing.refused == []


def test_settle_seconds_uses_the_files_mtime(drop):
    drop.put("alice", "young.csv", mtime=NOW - 10)
    drop.put("alice", "old.csv", mtime=NOW - 100)
    drop.put("alice", "older.csv", mtime=NOW - 200)
    with drop.make() as t:
        listing = t.list_depot("alice", NOW, 60)
        assert names(listing.ready) == ["older.csv", "old.csv"]  # oldest first
        assert names(listing.waiting) == ["young.csv"]
        assert [e.mtime for e in listing.ready] == [NOW - 200, NOW - 100]
        assert names(t.list_depot("alice", NOW + 60, 60).ready) == ["older.csv", "old.csv", "young.csv"]


def test_folders_and_symlinks_are_refused_and_never_followed(drop, tmp_path):
    drop.put("alice", "ok.csv", b"ok")
    (drop.root / "alice" / "depot" / "sub").mkdir()
    (drop.root / "alice" / "depot" / "passwd.csv").symlink_to("/etc/passwd")
    before = snapshot(drop.root)
    with drop.make() as t:
        listing = t.list_depot("alice", NOW, 0)
        assert names(listing.ready) == ["ok.csv"]
        refused = {e.name: reason for e, reason in listing.refused}
        assert refused == {"sub": NOT_REGULAR_REASON, "passwd.csv": NOT_REGULAR_REASON}
        link = next(e for e, _ in listing.refused if e.name == "passwd.csv")
        assert link.regular is False
        dest = tmp_path / "stolen"
        with pytest.raises(TransportError):
            t.fetch(link, dest)
        assert not dest.exists() or b"root:" not in dest.read_bytes()
    assert snapshot(drop.root) == before


def test_unsafe_names_are_refused_and_left_in_place(drop, tmp_path):
    unsafe = ["bad\x01name.csv", "x..y.csv", "tab\tname.csv", "new\nline.csv", "del\x7f.csv"]
    for name in unsafe + ["..x.."]:
        drop.put("alice", name)
    drop.put("alice", "fine.csv")
    before = snapshot(drop.root)
    with drop.make() as t:
        listing = t.list_depot("alice", NOW, 0)
        assert names(listing.ready) == ["fine.csv"]
        # "..x.." is refused and reported, though it starts with a dot like an upload in progress
        assert sorted(e.name for e, _ in listing.refused) == sorted(unsafe + ["..x.."])
        assert {reason for _, reason in listing.refused} == {UNSAFE_REASON}
        assert names(listing.waiting) == []
        # a forged entry never reaches outside the account's folder
        drop.put("mallory", "secret.csv", b"secret")
        forged = Entry("alice", "../../mallory/depot/secret.csv", 6, OLD, True)
        with pytest.raises(TransportError):
            t.fetch(forged, tmp_path / "forged")
        with pytest.raises(TransportError):
            t.claim("alice", "..x..", ".reception-1.en-cours")
        with pytest.raises(TransportError):
            t.archive_claim("alice", ".reception-1.en-cours", "../../mallory/archive/x")
        with pytest.raises(TransportError):
            t.write_retour("alice", "../depot/evil.csv", b"evil")
        with pytest.raises(TransportError):
            t.list_depot("../alice", NOW, 0)
    assert not (tmp_path / "forged").exists()
    after = snapshot(drop.root)
    assert {k: v for k, v in after.items() if not k.startswith("mallory")} == before


def test_fetch_is_byte_exact(drop, tmp_path):
    payload = os.urandom(3 * 1024 * 1024 + 17)
    drop.put("alice", "big.csv", payload)
    drop.put("alice", "empty.csv", b"")
    with drop.make() as t:
        listing = t.list_depot("alice", NOW, 0)
        by_name = {e.name: e for e in listing.ready}
        assert by_name["big.csv"].size == len(payload)
        t.fetch(by_name["big.csv"], tmp_path / "big")
        t.fetch(by_name["empty.csv"], tmp_path / "empty")
        (tmp_path / "stale").write_bytes(b"left over from an earlier attempt" * 100)
        t.fetch(by_name["empty.csv"], tmp_path / "stale")
    assert hashlib.sha256((tmp_path / "big").read_bytes()).digest() == hashlib.sha256(payload).digest()
    assert (tmp_path / "empty").read_bytes() == b""
    assert (tmp_path / "stale").read_bytes() == b""
    assert (drop.root / "alice" / "depot" / "big.csv").read_bytes() == payload  # fetch is a copy


def test_fetch_of_a_vanished_file_raises(drop, tmp_path):
    drop.put("alice", "gone.csv")
    with drop.make() as t:
        entry = t.list_depot("alice", NOW, 0).ready[0]
        (drop.root / "alice" / "depot" / "gone.csv").unlink()
        with pytest.raises(TransportError):
            t.fetch(entry, tmp_path / "gone")
        drop.put("alice", "next.csv", b"next")  # the connection is still usable
        t.fetch(t.list_depot("alice", NOW, 0).ready[0], tmp_path / "next")
    assert (tmp_path / "next").read_bytes() == b"next"


def test_claim_moves_the_file_out_of_depot_before_it_is_read(drop, tmp_path):
    drop.put("alice", "f.csv", b"first")
    with drop.make() as t:
        claimed = t.claim("alice", "f.csv", ".reception-1.en-cours")
        assert (claimed.name, claimed.folder, claimed.size, claimed.regular) == (
            ".reception-1.en-cours",
            "archive",
            5,
            True,
        )
        assert not (drop.root / "alice" / "depot" / "f.csv").exists()
        # a new upload of the same name is a new file: the claimed one is what gets read
        drop.put("alice", "f.csv", b"second upload")
        t.fetch(claimed, tmp_path / "copy")
        assert (tmp_path / "copy").read_bytes() == b"first"
        # claiming again (a run resumed after a crash) finds the claim, and leaves the new upload alone
        again = t.claim("alice", "f.csv", ".reception-1.en-cours")
        assert again.size == 5 and (drop.root / "alice" / "depot" / "f.csv").read_bytes() == b"second upload"
        assert t.claim("alice", "missing.csv", ".reception-2.en-cours") is None


def test_archive_claim_never_replaces_and_a_repeat_finds_it_done(drop):
    drop.put("alice", "f.csv", b"old", folder="archive")
    drop.put("alice", "f.csv", b"new")
    with drop.make() as t:
        assert t.free_archive_name("alice", "f.csv", "2") == "f.csv.2"
        assert t.free_archive_name("alice", "g.csv", "3") == "g.csv"
        t.claim("alice", "f.csv", ".reception-2.en-cours")
        with pytest.raises(TransportError):  # the name is taken: nothing is overwritten
            t.archive_claim("alice", ".reception-2.en-cours", "f.csv")
        assert t.archive_claim("alice", ".reception-2.en-cours", "f.csv.2") is True
        assert t.archive_claim("alice", ".reception-2.en-cours", "f.csv.2") is True  # repeated after a crash
        assert t.archive_claim("alice", ".reception-9.en-cours", "nothing.csv") is False
    archive = drop.root / "alice" / "archive"
    assert sorted(p.name for p in archive.iterdir()) == ["f.csv", "f.csv.2"]
    assert (archive / "f.csv").read_bytes() == b"old" and (archive / "f.csv.2").read_bytes() == b"new"


def test_fetch_many_copies_each_and_reports_each_failure(drop, tmp_path):
    from exchange.edges.transport.base import FileTooLarge

    payloads = {f"f{i}.csv": os.urandom(300 + 70_000 * (i % 3)) for i in range(12)}
    for name, data in payloads.items():
        drop.put("alice", name, data)
    drop.put("alice", "big.csv", b"y" * 300_000)
    drop.put("alice", ".reception-7.en-cours", b"claimed", folder="archive")
    (drop.root / "alice" / "depot" / "link.csv").symlink_to("/etc/passwd")
    with drop.make() as t:
        ready = {e.name: e for e in t.list_depot("alice", NOW, 0).ready}
        link = next(e for e, _ in t.list_depot("alice", NOW, 0).refused if e.name == "link.csv")
        gone = Entry("alice", "gone.csv", 5, OLD, True)
        claimed = t.claim("alice", "f0.csv", ".reception-8.en-cours")  # fetched from archive/
        earlier = Entry("alice", ".reception-7.en-cours", 7, OLD, True, folder="archive")
        jobs = [(ready[n], tmp_path / n) for n in list(payloads)[1:]] + [
            (ready["big.csv"], tmp_path / "big"),
            (gone, tmp_path / "gone"),
            (link, tmp_path / "link"),
            (claimed, tmp_path / "f0.csv"),
            (earlier, tmp_path / "earlier"),
        ]
        results = t.fetch_many(jobs, max_bytes=200_000)
    assert results[:11] == [None] * 11
    assert isinstance(results[11], FileTooLarge) and results[11].size == 300_000
    assert isinstance(results[12], TransportError) and isinstance(results[13], TransportError)
    assert not (tmp_path / "link").exists() or b"root:" not in (tmp_path / "link").read_bytes()
    assert results[14:] == [None, None] and (tmp_path / "earlier").read_bytes() == b"claimed"
    for name, data in payloads.items():
        assert (tmp_path / name).read_bytes() == data


def test_fetch_stops_at_the_size_limit(drop, tmp_path):
    from exchange.edges.transport.base import FileTooLarge

    drop.put("alice", "big.csv", b"x" * 5000)
    with drop.make() as t:
        entry = t.list_depot("alice", NOW, 0).ready[0]
        with pytest.raises(FileTooLarge) as caught:
            t.fetch(entry, tmp_path / "big", max_bytes=4096)
        assert caught.value.size == 5000
        t.fetch(entry, tmp_path / "ok", max_bytes=5000)
    assert (tmp_path / "ok").read_bytes() == b"x" * 5000


def test_write_retour_is_atomic_and_replaces(drop):
    drop.put("alice", "f.csv")
    with drop.make() as t:
        t.write_retour("alice", "f.csv.CR.csv", "première version\n".encode())
        retour = drop.root / "alice" / "retour"
        assert (retour / "f.csv.CR.csv").read_text(encoding="utf-8") == "première version\n"
        data = os.urandom(200_000)
        t.write_retour("alice", "f.csv.CR.csv", data)
        assert (retour / "f.csv.CR.csv").read_bytes() == data
        t.write_retour("alice", "empty.CR.xml", b"")
        assert (retour / "empty.CR.xml").read_bytes() == b""
    assert sorted(p.name for p in retour.iterdir()) == ["empty.CR.xml", "f.csv.CR.csv"]  # no .part left
    # a local drop area keeps its answers private to the service's group (docs/securite.md); over SFTP the server
    # applies its own umask to what the Esat's account may read
    wanted = 0o640 if drop.kind == "local" else 0o644
    assert (retour / "f.csv.CR.csv").stat().st_mode & 0o777 == wanted


def test_rename_retour_never_overwrites_a_kept_compte_rendu(drop):
    drop.put("alice", "f.csv")
    with drop.make() as t:
        t.write_retour("alice", "f.csv.CR.csv", b"old")
        assert t.rename_retour("alice", "f.csv.CR.csv", "f.csv.7.CR.csv") is True
        assert t.rename_retour("alice", "nothing.CR.csv", "nothing.8.CR.csv") is False
        t.write_retour("alice", "f.csv.CR.csv", b"new")
        assert t.rename_retour("alice", "f.csv.CR.csv", "f.csv.7.CR.csv") is False  # already kept: left alone
    retour = drop.root / "alice" / "retour"
    assert (retour / "f.csv.7.CR.csv").read_bytes() == b"old"
    assert (retour / "f.csv.CR.csv").read_bytes() == b"new"
    assert not (retour / "nothing.8.CR.csv").exists()


def test_remove_takes_one_file_of_archive_or_retour_and_nothing_else(drop, tmp_path):
    drop.put("alice", "f.csv", b"kept in depot")
    drop.put("alice", "f.csv", b"archived", folder="archive")
    drop.put("alice", "f.csv.CR.csv", b"answer", folder="retour")
    drop.put("alice", "other.CR.csv", b"another answer", folder="retour")
    (drop.root / "alice" / "archive" / "sub").mkdir()
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"not ours")
    os.symlink(outside, drop.root / "alice" / "retour" / "link.CR.csv")
    with drop.make() as t:
        assert t.remove("alice", "archive", "f.csv") is True
        assert t.remove("alice", "archive", "f.csv") is False  # a repeat finds it done
        assert t.remove("alice", "retour", "f.csv.CR.csv") is True
        assert t.remove("alice", "retour", "link.CR.csv") is True  # the link itself, never its target
        assert t.remove("bob", "retour", "f.csv.CR.csv") is False  # no such account: nothing to remove
        for folder, name in (("depot", "f.csv"), ("archive", "../depot/f.csv"), ("archive", "sub")):
            with pytest.raises(TransportError):
                t.remove("alice", folder, name)
        t.sync()
    assert snapshot(drop.root / "alice") == {
        "depot": "dir",
        "archive": "dir",
        "retour": "dir",
        "archive/sub": "dir",
        "depot/f.csv": hashlib.sha256(b"kept in depot").hexdigest(),
        "retour/other.CR.csv": hashlib.sha256(b"another answer").hexdigest(),
    }
    assert outside.read_bytes() == b"not ours"


def test_depot_count_counts_every_name(drop):
    for name in ["a.csv", "b.csv.part", ".c"]:
        drop.put("alice", name)
    (drop.root / "bob" / "depot").mkdir(parents=True)
    with drop.make() as t:
        assert t.depot_count("alice") == 3
        assert t.depot_count("bob") == 0
        assert t.depot_count("nobody") == 0


def test_listing_a_missing_account_raises_and_the_transport_stays_usable(drop):
    drop.put("alice", "a.csv")
    with drop.make() as t:
        with pytest.raises(TransportError):
            t.list_depot("ghost", NOW, 0)
        assert names(t.list_depot("alice", NOW, 0).ready) == ["a.csv"]


def test_a_whole_run_only_writes_in_retour_and_archive(drop, tmp_path):
    drop.put("alice", "a.csv", b"A")
    drop.put("alice", "b.csv.part", b"B")
    drop.put("alice", "..x..", b"X")
    drop.put("bob", "c.csv", b"C")
    (drop.root / "bob" / "depot" / "link.csv").symlink_to("/etc/passwd")
    drop.put("bob", "old.CR.csv", b"old", folder="retour")
    before = snapshot(drop.root)
    archived = set()
    with drop.make() as t:
        for account in t.accounts():
            for entry in t.list_depot(account, NOW, 0).ready:
                claimed = t.claim(account, entry.name, ".reception-9.en-cours")
                t.fetch(claimed, tmp_path / f"{account}-{entry.name}")
                assert t.free_archive_name(account, entry.name, "9") == entry.name
                assert t.archive_claim(account, ".reception-9.en-cours", entry.name) is True
                archived.add(f"{account}/depot/{entry.name}")
                t.write_retour(account, entry.name + ".CR.csv", b"cr")
        assert t.rename_retour("bob", "old.CR.csv", "old.5.CR.csv") is True
    after = snapshot(drop.root)
    assert archived == {"alice/depot/a.csv", "bob/depot/c.csv"}
    lost = set(before) - set(after)
    assert lost == archived | {"bob/retour/old.CR.csv"}
    for rel, value in after.items():
        parts = rel.split("/")
        if len(parts) >= 2 and parts[1] in ("retour", "archive"):
            continue
        assert before.get(rel) == value, rel  # unchanged outside retour/ and archive/
    assert after["alice/archive/a.csv"] == before["alice/depot/a.csv"]
    assert (tmp_path / "bob-c.csv").read_bytes() == b"C"
