"""The examples' drop area served by a real loopback OpenSSH gives exactly examples/EXPECTED.md."""

from __future__ import annotations

import shutil

from tests.areas import cli, tree, write_config
from tests.conftest import EXAMPLES, make_config
from tests.expected import assert_expected


def test_examples_over_sftp_give_expected(tmp_path, sftp_server):
    shutil.copytree(EXAMPLES / "drop", sftp_server.root, dirs_exist_ok=True)
    cfg = make_config(tmp_path, source=sftp_server.config_section())
    write_config(tmp_path / "esat-exchange.toml", cfg)
    assert cli(tmp_path, "habilitations", "import", str(EXAMPLES / "habpps"))[0] == 0

    code, out, err = cli(tmp_path, "run", "--as-of", "2025-12-15")
    assert code == 0, out + err
    assert "4 ACCEPTE" in out
    assert_expected(tmp_path, sftp_server.root)
    assert not list(sftp_server.root.rglob("*.part"))

    before = tree(sftp_server.root)
    code, out, _ = cli(tmp_path, "run", "--as-of", "2025-12-15")
    assert code == 0 and "Fichiers traités : 0" in out
    assert tree(sftp_server.root) == before


def test_unknown_host_key_stops_the_run_and_touches_nothing(tmp_path, sftp_server):
    shutil.copytree(EXAMPLES / "drop", sftp_server.root, dirs_exist_ok=True)
    empty_known_hosts = tmp_path / "known_hosts"
    empty_known_hosts.write_text("")
    cfg = make_config(tmp_path, source=sftp_server.config_section(known_hosts=str(empty_known_hosts)))
    write_config(tmp_path / "esat-exchange.toml", cfg)
    before = tree(sftp_server.root)
    code, out, err = cli(tmp_path, "run", "--as-of", "2025-12-15")
    assert code == 1
    assert "Clé d'hôte" in out + err and "host key" in out + err
    assert tree(sftp_server.root) == before
    code, out, _ = cli(tmp_path, "runs", "list", "--format", "json")
    import json

    assert [r["statut"] for r in json.loads(out)] == ["ECHEC"]
