"""``koppel preview --settings FILE DOCUMENT [--relations FILE]`` (preview.md).

Prints the preview JSON. Exit 0: every check passes; 1: a check fails (JSON still printed);
2: an input cannot be read, with one line on stderr naming the file and the problem.
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path

import click

from application.preview import preview as build_preview
from application.settings import SettingsError, load_settings
from domain.source import DocumentError


class _InputError(Exception):
    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")


def _read_json(path: str) -> object:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _InputError(path, "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _InputError(path, f"cannot read the file ({exc.__class__.__name__})") from None
    try:
        return json.loads(text, parse_float=Decimal)  # R0.1: never float
    except json.JSONDecodeError as exc:
        raise _InputError(path, f"not valid JSON ({exc.msg} at line {exc.lineno}, "
                                f"column {exc.colno})") from None


def _relations(path: str | None) -> list[dict] | None:
    if path is None:
        return None
    data = _read_json(path)
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise _InputError(path, 'expected a JSON list of relations like '
                                '[{"code": "KlaartjePi", "email": "k@example.nl"}]')
    return data


@click.command("preview")
@click.option("--settings", "settings_path", required=True, metavar="FILE",
              help="The connection's settings (TOML).")
@click.option("--relations", "relations_path", metavar="FILE",
              help="Existing ledger relations (JSON list of {code, email}) for R6.")
@click.argument("document", metavar="DOCUMENT")
def preview_command(settings_path: str, relations_path: str | None, document: str) -> None:
    """Show what would be booked for DOCUMENT (the shop's JSON), without booking it."""
    try:
        try:
            settings = load_settings(settings_path)
        except SettingsError as exc:
            raise _InputError(settings_path, str(exc)) from None
        bundle = _read_json(document)
        relations = _relations(relations_path)
        try:
            result, status = build_preview(bundle, settings, relations)
        except DocumentError as exc:
            raise _InputError(document, str(exc)) from None
    except _InputError as exc:
        click.echo(f"koppel preview: {exc}", err=True)
        sys.exit(2)
    click.echo(json.dumps(result, indent=2, ensure_ascii=False))
    sys.exit(status)


preview = preview_command  # the name the CLI group registers
