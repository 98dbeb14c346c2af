"""The README documents every command, and CI runs exactly the README's setup commands."""

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from topictag.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
COMMANDS = sorted(command.name or command.callback.__name__ for command in app.registered_commands)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_is_documented_and_has_help(command):
    assert f"topictag {command}" in README
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0 and len(result.output) > 200


def test_ci_runs_the_readme_commands():
    ci_commands = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line and not line.startswith(("#", "set ", "cd ", "command -v "))]
    assert len(ci_commands) == 2
    for command in ci_commands:
        assert command in README


def test_python_api_names_in_readme_exist():
    import topictag

    for name in set(re.findall(r"topictag\.(\w+)\(", README)):
        assert hasattr(topictag, name), name
