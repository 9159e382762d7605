import click
import pytest
from click.testing import CliRunner

from callcenter.cli import COMMANDS, main


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_loads_under_its_name(name):
    cmd = main.get_command(click.Context(main), name)
    assert isinstance(cmd, click.Command)
    assert cmd.name == name


def test_help_lists_every_command():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    for name in COMMANDS:
        assert name in result.output
