"""What `keyops` says about itself: version, the bare command, help topics, help on every option."""

from __future__ import annotations

import argparse

import keyops
from keyops.cli.parser import build_parser
from keyops.core.query.compile import FILTER_NAMES
from tests.integration.test_cli import keyops as run_keyops


def test_version_prints_the_package_version() -> None:
    result = run_keyops("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"keyops {keyops.__version__}"


def test_bare_keyops_prints_a_short_overview_not_an_error() -> None:
    result = run_keyops()
    assert result.returncode == 0 and result.stderr == ""
    assert "usage: keyops COMMAND" in result.stdout
    for command in ("keys", "tags", "ops", "audit", "demo", "help"):
        assert f"\n  {command} " in result.stdout
    assert "keyops help query" in result.stdout
    assert len(result.stdout.splitlines()) < 30  # short: the full list is --help


def test_help_query_summarises_every_filter_of_the_language() -> None:
    result = run_keyops("help", "query")
    assert result.returncode == 0, result.stderr
    for name in FILTER_NAMES:
        assert f"{name}:" in result.stdout, name
    assert "docs/" not in result.stdout  # docs/ is not part of an installed keyops


def test_help_on_a_command_is_its_own_help_and_an_unknown_topic_exits_2() -> None:
    assert run_keyops("help", "tags").stdout == run_keyops("tags", "--help").stdout
    unknown = run_keyops("help", "colours")
    assert unknown.returncode == 2 and "no help on 'colours'" in unknown.stderr


def _every_parser(
    parser: argparse.ArgumentParser, path: str = "keyops"
) -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _every_parser(sub, f"{path} {name}")
    return found


def test_every_option_and_argument_says_what_it_does() -> None:
    missing = [
        f"{path} {action.option_strings or action.metavar or action.dest}"
        for path, parser in _every_parser(build_parser())
        for action in parser._actions
        if not isinstance(action, argparse._SubParsersAction) and not action.help
    ]
    assert missing == []


def test_where_points_at_help_that_ships_with_keyops() -> None:
    for args in (("keys", "list", "--help"), ("tags", "add", "--help")):
        text = " ".join(run_keyops(*args).stdout.split())  # argparse wraps lines
        assert "keyops help query" in text and "docs/" not in text
