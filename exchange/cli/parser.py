"""argparse in French: usage, section titles, help option and error messages (exit 2), one example per command."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable
from typing import Any, NoReturn

# argparse's own error messages (Python 3.11–3.13), as regular expressions → French
_ERRORS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"the following arguments are required: (.*)"), r"arguments obligatoires manquants : \1"),
    (
        re.compile(r"argument (.*?): invalid choice: (.*?) \(choose from (.*)\)"),
        r"argument \1 : valeur inconnue \2 (valeurs possibles : \3)",
    ),
    (re.compile(r"invalid choice: (.*?) \(choose from (.*)\)"), r"valeur inconnue \1 (valeurs possibles : \2)"),
    (re.compile(r"argument (.*?): invalid (\w+) value: (.*)"), r"argument \1 : valeur invalide \3 (\2 attendu)"),
    (re.compile(r"argument (.*?): expected one argument"), r"argument \1 : une valeur est attendue"),
    (re.compile(r"argument (.*?): expected (.*)"), r"argument \1 : \2 attendu(s)"),
    (re.compile(r"argument (.*?): not allowed with argument (.*)"), r"argument \1 : incompatible avec \2"),
    (re.compile(r"one of the arguments (.*) is required"), r"un de ces arguments est obligatoire : \1"),
    (re.compile(r"unrecognized arguments: (.*)"), r"arguments non reconnus : \1"),
    (re.compile(r"ambiguous option: (.*?) could match (.*)"), r"option ambiguë : \1 peut désigner \2"),
    (re.compile(r"argument (.*?): (.*)"), r"argument \1 : \2"),
]


_TYPES = {"(int attendu)": "(entier attendu)", "(float attendu)": "(nombre attendu)"}


def french_error(message: str) -> str:
    for pattern, replacement in _ERRORS:
        if pattern.fullmatch(message):
            out = pattern.sub(replacement, message)
            for english, french in _TYPES.items():
                out = out.replace(english, french)
            return out
    return message


class FrenchFormatter(argparse.HelpFormatter):
    def add_usage(
        self,
        usage: str | None,
        actions: Iterable[argparse.Action],
        groups: Iterable[argparse._MutuallyExclusiveGroup],
        prefix: str | None = None,
    ) -> None:
        super().add_usage(usage, actions, groups, prefix="utilisation : " if prefix is None else prefix)


class FrenchParser(argparse.ArgumentParser):
    """An ArgumentParser whose every text is French; its subcommand parsers are French too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # argparse's signature
        kwargs.setdefault("formatter_class", FrenchFormatter)
        kwargs["add_help"] = False
        super().__init__(*args, **kwargs)
        self._positionals.title = "arguments"
        self._optionals.title = "options"
        self.add_argument(
            "-h", "--help", action="help", default=argparse.SUPPRESS, help="afficher cette aide et quitter"
        )

    # typeshed overloads add_subparsers on parser_class; every subcommand parser here is an ArgumentParser
    def add_subparsers(self, **kwargs: Any) -> argparse._SubParsersAction[argparse.ArgumentParser]:  # type: ignore[override]
        kwargs.setdefault("title", "commandes")
        kwargs.setdefault("metavar", "COMMANDE")
        return super().add_subparsers(**kwargs)

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog} : erreur : {french_error(message)}\n")


def add_examples(parser: argparse.ArgumentParser, examples: dict[str, str]) -> None:
    """Give every subcommand parser its example (keyed by the words after the program name) as epilog."""
    for action in parser._actions:  # noqa: SLF001 - argparse keeps subparsers there
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for sub in action.choices.values():
                key = sub.prog.split(" ", 1)[1] if " " in sub.prog else sub.prog
                if key in examples and not sub.epilog:
                    sub.epilog = f"exemple : {examples[key]}"
                add_examples(sub, examples)
