"""The `template` command: write the model declaration an Esat fills in (XLSX, ODS or CSV)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from exchange.config import Config


def cmd_template(args: argparse.Namespace, config: Config) -> int:  # noqa: ARG001 - every handler takes config
    from exchange.core.template import template_csv, template_xlsx
    from exchange.core.template_ods import template_ods

    kind = args.kind.upper()
    make = {"xlsx": template_xlsx, "ods": template_ods, "csv": template_csv}[args.format]
    data = make(kind)
    out = Path(args.out) if args.out else Path(f"modele-declaration-{kind}.{args.format}")
    try:
        out.write_bytes(data)
    except OSError as e:
        print(f"Impossible d'écrire {out} : {e.strerror}", file=sys.stderr)
        return 1
    print(f"Modèle de déclaration {kind} écrit : {out} (ligne d'en-tête et une ligne d'exemple à remplacer).")
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    t = sub.add_parser("template", help="écrire un modèle de déclaration (en-tête et une ligne d'exemple)")
    t.add_argument("kind", choices=("rg", "ca", "RG", "CA"), metavar="rg|ca", help="type de déclaration")
    t.add_argument("--format", choices=("xlsx", "ods", "csv"), default="xlsx", help="xlsx (défaut), ods ou csv")
    t.add_argument("--out", metavar="FICHIER", help="fichier à écrire (défaut : modele-declaration-<TYPE>.<format>)")
    t.set_defaults(handler=cmd_template)
