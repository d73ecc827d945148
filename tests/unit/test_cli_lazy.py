"""The command line imports a wing only when one of its commands runs."""

from __future__ import annotations

import subprocess
import sys

import click
from click.testing import CliRunner

from spinerules import cli


def test_importing_the_cli_imports_no_lazy_wing() -> None:
    code = ("import sys, spinerules.cli; "
            "lazy = ('spinerules.fhir', 'spinerules.service', 'spinerules.verify', "
            "'spinerules.population', 'fastapi', 'uvicorn', 'z3', 'duckdb', 'sqlglot', "
            "'pyarrow', 'pyspark'); "
            "print(sorted(m for m in sys.modules if m.startswith(lazy)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout.strip()
    assert out == "[]"


def test_every_lazy_command_resolves_and_is_listed() -> None:
    ctx = click.Context(cli.main)
    assert set(cli.LAZY_COMMANDS) <= set(cli.main.list_commands(ctx))
    for name in cli.LAZY_COMMANDS:
        command = cli.main.get_command(ctx, name)
        assert isinstance(command, click.Command), name
        assert command.name == name


def test_the_fhir_size_limit_is_the_fhir_wings() -> None:
    from spinerules.fhir.commands import MAX_BYTES

    assert cli.FHIR_MAX_BYTES == MAX_BYTES


def test_a_lazy_command_runs_from_the_top_level() -> None:
    result = CliRunner().invoke(cli.main, ["fhir", "--help"])
    assert result.exit_code == 0, result.output
    assert "extract" in result.output
