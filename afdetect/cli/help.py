"""Help a user can read: flags without ``<bool>``, arguments by name, ``--version``.

Typer shows a type beside every parameter: ``<bool>`` beside flags (which take no value) and
``<list[str]>`` beside variadic arguments, whose usage reads ``{records}...``. The command and
group classes here show a flag as ``--x/--no-x`` alone, and an argument as ``RECORD...``.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

# Typer may bring its own copy of click, so parameters are told apart by their
# ``param_type_name`` rather than by click's classes.


def _is_argument(param: Any) -> bool:
    return param.param_type_name == "argument"


def readable_params(params: list[Any]) -> list[Any]:
    """The parameters with no type shown for flags and arguments (their name says it all)."""
    for param in params:
        if getattr(param, "is_flag", False) and not getattr(param, "count", False) and param.metavar is None:
            param.metavar = ""
        elif _is_argument(param):
            if param.metavar is None:
                param.metavar = (param.name or "").upper()
            if param.nargs != 1 and not param.metavar.endswith("..."):
                param.metavar += "..."
            param.display_type_rich = lambda ctx: None  # type: ignore[method-assign]
    return params


def usage_pieces(command: Any, ctx: Any) -> list[str]:
    """``[OPTIONS] RECORD...``: arguments by name, optional ones in brackets, no braces."""
    pieces = [command.options_metavar] if command.options_metavar else []
    for param in command.get_params(ctx):
        if _is_argument(param):
            name = param.metavar or (param.name or "").upper()
            name = name if param.required else f"[{name}]"  # e.g. [DIRECTORY]; ... after the bracket
            pieces.append(name if param.nargs == 1 or name.endswith("...") else name + "...")
    return pieces


class ReadableCommand(TyperCommand):
    """A command whose help shows flags and arguments without their Python types."""

    def get_params(self, ctx: Any) -> list[Any]:
        return readable_params(super().get_params(ctx))

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return usage_pieces(self, ctx)


class ReadableGroup(TyperGroup):
    """The ``afdetect`` group, with :class:`ReadableCommand`'s help."""

    def get_params(self, ctx: Any) -> list[Any]:
        return readable_params(super().get_params(ctx))


def print_version(value: bool) -> None:
    """``--version``: the package version and the shipped model files' sha256 digests (first 12 hex digits)."""
    if not value:
        return
    from afdetect import __version__
    from afdetect.models.files import WEIGHTS_DIR, shipped_digests

    typer.echo(f"afdetect {__version__}")
    digests = shipped_digests()
    for name, digest in digests.items():
        typer.echo(f"  {name}  sha256 {digest[:12]}")
    if not digests:
        typer.echo(f"  no shipped weights found in {WEIGHTS_DIR}")
    raise typer.Exit()
