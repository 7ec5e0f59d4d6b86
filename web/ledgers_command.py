"""``koppel ledgers``: book a connection's documents into a further ledger, from a date.

``add-copy`` gives an accountant a second ledger in parallel; ``switch`` moves the connection
to another ledger (a second e-Boekhouden administration, or Billit). Both replay every
document the connection booked since the date into the new ledger, with a progress bar;
Ctrl-C pauses, and the same command goes on where it stopped, booking nothing twice.
"""

from __future__ import annotations

from pathlib import Path

import click

from web.users_command import connection_id_named


def _runtime():
    from web.bootstrap import bootstrap
    from web.config import ConfigError, from_environment

    try:
        return bootstrap(from_environment())
    except ConfigError as error:
        raise click.ClickException(str(error)) from None


def _settings(file: Path):
    from application.settings import SettingsError, load_settings

    try:
        return load_settings(file)
    except (OSError, SettingsError) as error:
        raise click.ClickException(f"{file}: {error}") from None


def _date(value: str):
    from domain.start_date import moment

    try:
        return moment(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


@click.group()
def ledgers() -> None:
    """Further ledgers of a connection: a copy in parallel, or the ledger it switches to."""


TARGET_OPTIONS = [
    click.option("--connection", "name", required=True, help="The connection's name."),
    click.option("--ledger", "ledger_name", required=True,
                 help="A name for the new ledger (e.g. 'Accountant' or 'Billit')."),
    click.option("--settings", "file", required=True,
                 type=click.Path(dir_okay=False, path_type=Path),
                 help="A settings file for the new ledger (its [ledger], accounts and VAT "
                      "codes; the connection's shop is kept)."),
    click.option("--from", "date_from", required=True,
                 help="Replay the documents the shop created from this day (YYYY-MM-DD)."),
    click.option("--by", default="cli", show_default=True, help="Who asks (recorded)."),
]


def _target_options(command):
    for option in reversed(TARGET_OPTIONS):
        command = option(command)
    return command


@ledgers.command("add-copy")
@_target_options
def add_copy(name: str, ledger_name: str, file: Path, date_from: str, by: str) -> None:
    """A second ledger in parallel: it gets every booking since the date, and every later one."""
    _replay(name, ledger_name, file, date_from, by, "copy")


@ledgers.command("switch")
@_target_options
def switch(name: str, ledger_name: str, file: Path, date_from: str, by: str) -> None:
    """Move the connection to another ledger: replay since the date, then book there."""
    _replay(name, ledger_name, file, date_from, by, "switch")


def _replay(name: str, ledger_name: str, file: Path, date_from: str, by: str,
            purpose: str) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from application.errors import KoppelError

    settings = _settings(file)
    since = _date(date_from)
    runtime = _runtime()
    try:
        conn_id = connection_id_named(runtime, name)
        replays = runtime.replays
        existing = replays.named(conn_id, ledger_name)
        if existing is not None and existing.purpose != purpose:
            raise click.ClickException(f"{ledger_name!r} is a {existing.purpose} of {name!r}")
        target = replays.add(conn_id, ledger_name, settings, since, purpose, by=by)
        with Progress(TextColumn(f"replaying into {ledger_name}"), BarColumn(),
                      MofNCompleteColumn()) as bar:
            task = bar.add_task("replay", total=target.total, completed=target.position)
            try:
                target = replays.run(target.id, lambda t: bar.update(
                    task, completed=t.position, total=t.total))
            except KeyboardInterrupt:
                target = replays.pause(target.id, by=by)
        if target.state == "paused":
            click.echo(f"paused at {target.position} of {target.total}; the same command "
                       f"goes on from there")
            return
        progress = replays.progress(target.id)
        click.echo(f"replayed {progress.total} documents since {date_from} into "
                   f"{ledger_name}: {progress.posted} booked there, {progress.failed} failed"
                   f"{_payments(progress)}")
        if purpose == "switch" and target.state == "finished":
            reopened = replays.hand_over(target.id, by=by)
            for doc_id in reopened:  # checked again with the new ledger's settings
                if runtime.config.embedded:
                    try:
                        runtime.processing.process(doc_id)
                    except KoppelError:
                        pass  # it waits in Open; the workers' retries take it on
                else:
                    runtime.actors.process.send(str(doc_id))
            click.echo(f"{name!r} books into {ledger_name} from now on; {len(reopened)} "
                       f"document(s) not yet booked are checked again with its settings")
    except KoppelError as error:
        raise click.ClickException(error.message) from None
    finally:
        runtime.stop()


@ledgers.command("pause")
@click.option("--connection", "name", required=True, help="The connection's name.")
@click.option("--ledger", "ledger_name", required=True, help="The further ledger's name.")
@click.option("--by", default="cli", show_default=True, help="Who asks (recorded).")
def pause(name: str, ledger_name: str, by: str) -> None:
    """Pause a replay (it stops after the documents it is replaying now)."""
    runtime = _runtime()
    try:
        target = runtime.replays.named(connection_id_named(runtime, name), ledger_name)
        if target is None:
            raise click.ClickException(f"{name!r} has no further ledger {ledger_name!r}")
        target = runtime.replays.pause(target.id, by=by)
        click.echo(f"{ledger_name}: {target.state} at {target.position} of {target.total}")
    finally:
        runtime.stop()


@ledgers.command("status")
@click.option("--connection", "name", required=True, help="The connection's name.")
def status(name: str) -> None:
    """The connection's further ledgers and how far their replays are."""
    runtime = _runtime()
    try:
        conn_id = connection_id_named(runtime, name)
        targets = runtime.replays.targets(conn_id)
        if not targets:
            click.echo(f"{name!r} books into its own ledger only")
        for target in targets:
            progress = runtime.replays.progress(target.id)
            click.echo(f"{progress.name} ({progress.purpose}, since {progress.from_date}): "
                       f"{progress.state}, {progress.position} of {progress.total} replayed, "
                       f"{progress.posted} booked, {progress.failed} failed, "
                       f"{progress.waiting} waiting{_payments(progress)}")
    finally:
        runtime.stop()


def _payments(progress) -> str:
    """The payments booked into the target (R8), when it books any (not Billit's)."""
    if not (progress.paid or progress.payments_failed):
        return ""
    return f"; payments: {progress.paid} booked, {progress.payments_failed} failed"
