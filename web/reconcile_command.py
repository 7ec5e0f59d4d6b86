"""``koppel reconcile``: the reconciliation of one connection over a period, in the terminal
(and as CSV or XLSX for the accountant)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a day like 2026-03-14") from None


def _same(text: str) -> str:
    return text


@click.command()
@click.option("--connection", "name", required=True, help="The connection's name.")
@click.option("--from", "date_from", required=True, help="First day (YYYY-MM-DD).")
@click.option("--to", "date_to", required=True, help="Last day, included (YYYY-MM-DD).")
@click.option("--csv", "csv_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the reconciliation to this CSV file.")
@click.option("--xlsx", "xlsx_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the reconciliation to this Excel file.")
def reconcile(name: str, date_from: str, date_to: str, csv_file: Path | None,
              xlsx_file: Path | None) -> None:
    """Put the shop's documents, koppel's bookings and the ledger's own bookings of a period
    side by side, and list every difference with its kind. Nothing is sent anywhere."""
    from application.errors import KoppelError
    from web.cli import _runtime
    from web.reconcile import service
    from web.reconcile_files import changes_text, kind_text, to_csv, to_xlsx

    first, last = _day(date_from), _day(date_to)
    if last < first:
        raise click.BadParameter("--to is before --from")
    runtime = _runtime()
    try:
        aggregate = runtime.app.connection_named(name)
        if aggregate is None:
            raise click.ClickException(f"no connection named {name!r}")
        runtime.projector.catch_up()

        def progress(stage: str, done: int, total: int) -> None:
            what = {"shop": "shop documents listed", "ledger": "ledger bookings read"}[stage]
            click.echo(f"  {done} {what}{' (done)' if total else ''}", err=True)

        report = service(runtime).run(aggregate.id, first, last, progress)
    except KoppelError as error:  # the shop or ledger unreachable or refusing, said plainly
        raise click.ClickException(error.message) from None
    finally:
        runtime.stop()
    result = report.result
    click.echo(f"{name}, {first} to {last} ({report.ledger}), read in {report.seconds:.1f}s")
    for side, totals in (("shop", result.shop), ("koppel", result.koppel),
                         ("ledger", result.ledger)):
        click.echo(f"  {side:<7} {totals.count:>6} documents  {totals.total:>14} incl. VAT")
    click.echo(f"  {result.matched} bookings match")
    if not result.differences:
        click.echo("no differences: the shop, koppel and the ledger agree")
    else:
        click.echo(f"{len(result.differences)} difference(s):")
        for d in result.differences:
            amounts = " ".join(f"{label} {value}" for label, value in (
                ("shop", d.shop_total), ("koppel", d.koppel_total), ("ledger", d.ledger_total))
                if value is not None)
            what = f" [{changes_text(d.changes, _same)}]" if d.changes else ""
            status = f" (koppel: {d.status})" if d.status else ""
            click.echo(f"  {d.number:<14} {kind_text(d.kind, _same)}{what}: {amounts}{status}")
    for path, render in ((csv_file, to_csv), (xlsx_file, to_xlsx)):
        if path is not None:
            path.write_bytes(render(report, _same))
            click.echo(f"written to {path}")
