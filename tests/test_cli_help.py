"""CLI help a user can read: flags as --x/--no-x, arguments by name, defaults as values, an example each."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from afdetect.cli import app
from afdetect.config import RR_THRESHOLD

COMMANDS = ("preprocess", "train", "predict", "plot", "eval", "example")

FLAGS = {
    (): ("--debug", "--no-debug"),
    ("predict",): ("--recursive", "--no-recursive", "--quiet", "--no-quiet"),
    ("preprocess",): ("--recursive", "--no-recursive", "--quiet", "--no-quiet"),
    ("eval",): ("--quiet", "--no-quiet"),
    ("train",): ("--resume", "--no-resume", "--amp", "--no-amp"),
    ("plot",): ("--overview", "--strip"),
}


def help_text(*command: str) -> str:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200", "TERMINAL_WIDTH": "200"})
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("command", [(), *((c,) for c in COMMANDS)])
def test_help_shows_no_python_types_for_flags_and_arguments(command: tuple[str, ...]) -> None:
    text = help_text(*command)
    assert "<bool>" not in text
    assert "<list[" not in text
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    assert "{" not in usage and "}" not in usage, usage
    for flag in FLAGS.get(command, ()):
        assert flag in text, flag


@pytest.mark.parametrize(
    ("command", "usage"),
    [
        ("predict", "[OPTIONS] RECORD..."),
        ("eval", "[OPTIONS] INPUT..."),
        ("preprocess", "[OPTIONS] DATA..."),
        ("plot", "[OPTIONS] RECORD"),
        ("example", "[OPTIONS] [DIR]"),
    ],
)
def test_usage_names_the_arguments(command: str, usage: str) -> None:
    usage_line = next(line for line in help_text(command).splitlines() if "Usage:" in line)
    assert usage_line.strip().endswith(f" {command} {usage}"), usage_line


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_an_example(command: str) -> None:
    assert f"Example: afdetect {command} " in help_text(command)


def test_defaults_are_values_not_constant_names() -> None:
    text = help_text("predict")
    assert "RR_THRESHOLD" not in text
    assert f"default threshold {RR_THRESHOLD}" in " ".join(text.split())
