"""Stage 7, the command line: the typer app (``afdetect``) and its tables."""

from afdetect.cli.app import app, main

__all__ = ["app", "main"]
