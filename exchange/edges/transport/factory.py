"""Choosing the drop-area transport named by [source] kind."""

from __future__ import annotations

from exchange.config import Config, ConfigError
from exchange.edges.transport.base import Transport
from exchange.edges.transport.local import LocalTransport


def open_transport(config: Config) -> Transport:
    """The transport of config.source.kind (not yet connected: use it as a context manager)."""
    kind = config.source.kind
    if kind == "local":
        return LocalTransport(config.drop_root)
    if kind == "sftp":
        from exchange.edges.transport.sftp import SftpTransport  # paramiko only when needed

        return SftpTransport.from_config(config)
    raise ConfigError(f"source.kind: « local » ou « sftp » attendu, pas {kind!r}")
