"""``koppel dryrun --connection NAME --settings draft.toml --from DAY --to DAY`` (issue 13.2).

Prints what the draft would have booked differently in the period, document by document, and
the difference per ledger account and VAT code; nothing is sent. ``--list FILE`` writes the
correction list (``.csv`` or ``.xlsx``). ``--apply`` makes the draft the connection's settings
(``--reason`` is required and recorded); ``--book-corrections`` then books a reversal and a new
booking for each posted document, each exactly once. Texts in English or Dutch (``--lang``),
from the dashboard's own catalogue.
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import click
from babel.support import NullTranslations, Translations

from application.settings import SettingsError, load_settings
from web.i18n import TRANSLATIONS


def _texts(lang: str):
    if lang == "nl":
        return Translations.load(str(TRANSLATIONS), ["nl"], "messages").gettext
    return NullTranslations().gettext


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a day like 2026-01-31") from None


def print_result(result, _) -> None:
    click.echo(_("%(examined)s documents in the period; %(changed)s would be booked "
                 "differently (%(posted)s posted, %(open)s not posted yet). Nothing was sent.")
               % {"examined": result.examined, "changed": len(result.documents),
                  "posted": len(result.posted), "open": len(result.open)})
    for comparison in result.documents:
        state = _("posted") if comparison.posted else _("not posted yet")
        click.echo(f"\n{comparison.date}  {comparison.number}  ({state})")
        if comparison.problem:
            click.echo("  " + comparison.problem)
        if comparison.draft_checks != comparison.booked_checks:
            click.echo("  " + _("checks that fail with the draft: %(codes)s")
                       % {"codes": ", ".join(comparison.draft_checks) or "-"})
        for line in comparison.lines:
            if line.kind == "same":
                continue
            booked, draft = line.booked or {}, line.draft or {}
            click.echo(f"  {line.kind:8} {line.line['description'][:40]:40} "
                       f"{booked.get('account') or '-':>6} -> {draft.get('account') or '-':<6} "
                       f"{booked.get('vat_code') or '-':>14} -> {draft.get('vat_code') or '-':<14} "
                       f"{booked.get('amount_excl', '-'):>10} -> {draft.get('amount_excl', '-')}")
    for title, which in ((_("Difference per ledger account"), "accounts"),
                         (_("Difference per VAT code"), "vat_codes")):
        totals = result.totals(which)
        click.echo(f"\n{title}:")
        if not totals:
            click.echo("  -")
        for key, amount in totals.items():
            click.echo(f"  {key:16} {amount:>12}")


@click.command("dryrun")
@click.option("--connection", "name", required=True, help="The connection's name.")
@click.option("--settings", "settings_path", required=True, metavar="FILE",
              help="The draft of the settings (TOML, as `koppel connections export` gives).")
@click.option("--from", "date_from", required=True, help="First day (YYYY-MM-DD).")
@click.option("--to", "date_to", required=True, help="Last day, included (YYYY-MM-DD).")
@click.option("--list", "list_path", metavar="FILE",
              help="Write the correction list for the accountant (.csv or .xlsx).")
@click.option("--apply", is_flag=True, help="Make the draft the connection's settings.")
@click.option("--book-corrections", is_flag=True,
              help="With --apply: book a reversal and a new booking per posted document.")
@click.option("--by", default="cli", show_default=True, help="Who applies (recorded).")
@click.option("--reason", default="", help="Why (required with --apply; recorded).")
@click.option("--lang", type=click.Choice(["en", "nl"]), default="en", show_default=True)
def dryrun(name: str, settings_path: str, date_from: str, date_to: str, list_path: str | None,
           apply: bool, book_corrections: bool, by: str, reason: str, lang: str) -> None:
    """What a draft of the settings would have booked in a period, next to what was booked."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from web.cli import _runtime
    from web.correction_list import to_csv, to_xlsx

    _ = _texts(lang)
    first, last = _day(date_from), _day(date_to)
    if first > last:
        raise click.BadParameter("--from is after --to")
    if book_corrections and not apply:
        raise click.UsageError("--book-corrections only goes with --apply")
    if apply and not reason.strip():
        raise click.UsageError("--apply needs --reason (it is recorded)")
    if list_path and Path(list_path).suffix.lower() not in (".csv", ".xlsx"):
        raise click.BadParameter("the list is a .csv or .xlsx file", param_hint="--list")
    try:
        draft = load_settings(settings_path)
    except SettingsError as error:
        raise click.ClickException(f"{settings_path}: {error}") from None
    runtime = _runtime()
    try:
        aggregate = runtime.app.connection_named(name)
        if aggregate is None:
            raise click.ClickException(f"no connection named {name!r}")
        runtime.projector.catch_up()
        with Progress(TextColumn(_("comparing")), BarColumn(), MofNCompleteColumn()) as bar:
            task = bar.add_task("dryrun", total=None)
            result = runtime.dry_runs.run(
                aggregate.id, draft, first, last,
                lambda done, total: bar.update(task, completed=done, total=total))
        print_result(result, _)
        if list_path:
            writer = to_xlsx if list_path.lower().endswith(".xlsx") else to_csv
            Path(list_path).write_bytes(writer(result, _))
            click.echo("\n" + _("Correction list written to %(file)s") % {"file": list_path})
        if apply:
            _apply(runtime, aggregate.id, draft, first, last, by, reason, book_corrections, _,
                   lang)
    finally:
        runtime.stop()


def _apply(runtime, conn_id, draft, first, last, by, reason, book_corrections, _,
           lang: str) -> None:
    from application.apply_draft import DraftRefused

    embedded = runtime.config.embedded
    queue = (lambda doc_id: None) if embedded else (
        lambda doc_id: runtime.actors.process.send(str(doc_id)))
    try:
        applied = runtime.apply_draft.apply(conn_id, draft, first, last, by=by, reason=reason,
                                            book_corrections=book_corrections, queue=queue)
    except DraftRefused as error:
        raise click.ClickException(str(error)) from None
    click.echo("\n" + _("Settings version %(version)s recorded.")
               % {"version": applied.settings_version})
    if embedded:  # no worker outlives this command: the documents are run here
        for comparison in applied.result.open:
            if comparison.number in applied.reprocessed:
                _retrying(lambda: runtime.processing.process(comparison.document_id))
    click.echo(_("Run again with the new settings: %(count)s")
               % {"count": len(applied.reprocessed)})
    for number, said in applied.refused:
        click.echo(f"  {number}: {said}")
    if applied.listed:
        click.echo(_("On the correction list only: %(numbers)s")
                   % {"numbers": ", ".join(applied.listed)})
    for number, why_nl, why_en in applied.not_corrected:
        click.echo(f"  {number}: {why_nl if lang == 'nl' else why_en}")
    for correction in applied.corrections:
        done = _retrying(lambda: runtime.corrections.run(correction))
        if done is None or not done.done:
            failure = (done.failure if done is not None else None) or {}
            why = failure.get("message_nl" if lang == "nl" else "message_en") or _(
                "try again later")
            click.echo(_("Correction of %(number)s not booked: %(why)s")
                       % {"number": done.number if done else correction, "why": why})
        else:
            click.echo(_("Correction of %(number)s booked (reversal and new booking).")
                       % {"number": done.number})


def _retrying(call, attempts: int = 5):
    """A worker's retries, in this command: a live claim or a settle window is waited out."""
    from application.errors import TransientError
    from application.processing import ClaimHeld

    for _ in range(attempts):
        try:
            return call()
        except ClaimHeld as held:
            time.sleep(min(held.retry_after or 1.0, 330.0))
        except TransientError:
            time.sleep(1.0)
    return None
