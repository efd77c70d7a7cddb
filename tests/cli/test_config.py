"""Configuration: defaults under ./var, paths relative to the file, unknown keys and wrong types exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from exchange.cli.main import main
from exchange.config import ConfigError, load_config, parse_config


def test_defaults_run_under_var(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(None)
    assert cfg.database_url == f"sqlite:///{tmp_path / 'var' / 'exchange.db'}"
    assert cfg.drop_root == tmp_path / "var" / "drop"
    assert cfg.storage_dir == tmp_path / "var" / "received"
    assert cfg.output_dir == tmp_path / "var" / "outbound"
    assert (cfg.source.kind, cfg.source.settle_seconds) == ("local", 60)
    assert (cfg.limits.max_file_bytes, cfg.limits.max_records) == (52_428_800, 100_000)
    assert cfg.schedule.campaign == ["30 0 16 1 *", "30 0 1 3 *"]


def test_esat_exchange_toml_in_the_current_folder_is_read(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "esat-exchange.toml").write_text('[source]\nroot = "depots"\n')
    assert load_config(None).drop_root == tmp_path / "depots"


def test_paths_are_relative_to_the_file(tmp_path):
    conf = tmp_path / "etc" / "esat.toml"
    conf.parent.mkdir()
    conf.write_text(
        '[database]\nurl = "sqlite:///data/x.db"\n[storage]\ndir = "../recus"\n[output]\ndir = "/srv/sortie"\n'
    )
    cfg = load_config(conf)
    assert cfg.database_url == f"sqlite:///{tmp_path / 'etc' / 'data' / 'x.db'}"
    assert cfg.storage_dir == tmp_path / "etc" / ".." / "recus"
    assert cfg.output_dir == Path("/srv/sortie")
    pg = parse_config({"database": {"url": "postgresql+psycopg://u@h/db"}}, tmp_path)
    assert pg.database_url == "postgresql+psycopg://u@h/db"


@pytest.mark.parametrize(
    "toml, named",
    [
        ("[source]\nroots = 'x'\n", "source.roots"),
        ("[limits]\nmax_records = 'beaucoup'\n", "limits.max_records"),
        ("[source]\nsettle_seconds = true\n", "source.settle_seconds"),
        ("[schedule]\ncampaign = '30 0 16 1 *'\n", "schedule.campaign"),
        ("[sortie]\ndir = 'x'\n", "[sortie]"),
        ("[source]\nkind = 'ftp'\n", "source.kind"),
        ("[source]\nkind = 'sftp'\nhost = 'h'\nusername = 'u'\nprivate_key = 'k'\n", "source.known_hosts"),
    ],
)
def test_configuration_errors_exit_2_and_name_the_key(tmp_path, capsys, toml, named):
    conf = tmp_path / "bad.toml"
    conf.write_text(toml)
    with pytest.raises(ConfigError, match=named.replace("[", r"\[").replace("]", r"\]")):
        load_config(conf)
    assert main(["--config", str(conf), "runs", "list"]) == 2
    err = capsys.readouterr().err
    assert "Erreur de configuration" in err and named in err


def test_missing_or_broken_file_exits_2(tmp_path, capsys):
    assert main(["--config", str(tmp_path / "absent.toml"), "runs", "list"]) == 2
    (tmp_path / "broken.toml").write_text("[source\n")
    assert main(["--config", str(tmp_path / "broken.toml"), "runs", "list"]) == 2
    assert "TOML invalide" in capsys.readouterr().err
