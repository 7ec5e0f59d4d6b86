"""The ``koppel`` command."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import click

from web.config import ConfigError, from_environment
from web.dryrun_command import dryrun
from web.ledgers_command import ledgers
from web.preview_command import preview
from web.reconcile_command import reconcile
from web.users_command import connection_id_named, users

# The scheduler's threads that use the database: the scheduler's and the projector's.
SCHEDULER_THREADS = 2

def _config():
    """The configuration, or one line saying what to set (no traceback)."""
    try:
        return from_environment()
    except ConfigError as error:
        raise click.ClickException(str(error)) from None


def _reachable_config():
    """The configuration, once its database answers (else one line, not a traceback after the
    pool's 30 s wait)."""
    from web.doctor import database_problem, unreachable_database

    config = _config()
    reason = database_problem(config.database_url)
    if reason:
        raise click.ClickException(unreachable_database(config.database_url, reason))
    return config


def _runtime(database_threads: int = 0, **kwargs):
    from web.bootstrap import bootstrap

    config = _reachable_config().with_(database_threads=database_threads)
    if config.demo:
        click.echo(f"(koppel demo's database {config.database_url} and sandbox ledger "
                   f"{config.eboekhouden_url}; set KOPPEL_DATABASE_URL for another)", err=True)
    return bootstrap(config, **kwargs)


class _Koppel(click.Group):
    """Turns a database that stops answering in the middle of a command into one line."""

    def invoke(self, ctx):
        from web.doctor import DATABASE_ERRORS, first_line, unreachable_database

        try:
            return super().invoke(ctx)
        except DATABASE_ERRORS as error:
            url = os.environ.get("KOPPEL_DATABASE_URL") or "(KOPPEL_DATABASE_URL)"
            raise click.ClickException(unreachable_database(url, first_line(error))) from None


@click.group(cls=_Koppel)
@click.option("-v", "--verbose", is_flag=True, help="Log what the workers do.")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """koppel: every CCV Shop order booked in your ledger exactly once, and explained."""
    _name_database_connections(ctx, f"koppel {ctx.invoked_subcommand or ''}".strip())
    from web.logging_setup import configure_logging

    try:
        configure_logging(verbose=verbose)
    except ConfigError as error:
        raise click.ClickException(str(error)) from None


def _name_database_connections(ctx: click.Context, name: str) -> None:
    """Every PostgreSQL connection this command opens says which command it is
    (pg_stat_activity's application_name), so an operator can count them per kind of process.
    libpq reads it from the environment; it is put back when the command ends."""
    before = os.environ.get("PGAPPNAME")
    os.environ["PGAPPNAME"] = name

    def restore() -> None:
        if before is None:
            os.environ.pop("PGAPPNAME", None)
        else:
            os.environ["PGAPPNAME"] = before

    ctx.call_on_close(restore)


@main.command()
@click.option("--orders", default=None, type=int,
              help="Generate this many orders (default: a steady trickle until stopped).")
@click.option("--exit", "exit_when_done", is_flag=True,
              help="Run headless, print a summary when every order has settled, and exit.")
@click.option("--port", default=8000, show_default=True, help="Dashboard port.")
@click.option("--seed", default=1, show_default=True, help="Seed of the order generator.")
@click.option("--timeout", default=600.0, show_default=True,
              help="With --exit: give up after this many seconds.")
@click.option("--ledger", type=click.Choice(["eboekhouden", "billit"]), default="eboekhouden",
              show_default=True, help="Which sandbox ledger the demo shop is linked to.")
def demo(orders: int | None, exit_when_done: bool, port: int, seed: int, timeout: float,
         ledger: str) -> None:
    """Run koppel against a sandbox shop and ledger, all in this process."""
    from web.demo import run_demo

    sys.exit(run_demo(orders=orders, exit_when_done=exit_when_done, port=port, seed=seed,
                      timeout=timeout, ledger=ledger))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, help="0: any free port (logged).")
def serve(host: str, port: int) -> None:
    """The web process: webhooks and dashboard (and, embedded, the workers), on gunicorn."""
    from web.server import WebServer

    config = _reachable_config()
    # A web process's threads that use the database: its request threads and the projector
    # (embedded also the document workers and the scheduler); its pools are that big.
    threads = config.web_threads + 1 + (config.worker_threads + 1 if config.embedded else 0)

    def build():  # in each web worker process, after gunicorn forked it
        from web.app import create_app
        from web.bootstrap import bootstrap

        runtime = bootstrap(config.with_(database_threads=threads))
        if config.embedded:  # one process is the whole installation
            runtime.start_workers()
            runtime.start_background(schedule=runtime.intervals())
        else:  # production: `koppel worker` processes and the one `koppel scheduler`
            runtime.start_background()
        return runtime, create_app(runtime)

    WebServer(config, f"{host}:{port}", build).run()


@main.command()
def scheduler() -> None:
    """The one scheduler of a production installation: sweep, payment check, re-checks."""
    from workers.scheduler import SchedulerLock

    runtime = _runtime(database_threads=SCHEDULER_THREADS)
    lock = SchedulerLock(runtime.config.database_url)
    if not lock.acquire():
        runtime.stop()
        raise click.ClickException("another koppel scheduler is running for this database; "
                                   "an installation has exactly one")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    click.echo(f"scheduler {os.getpid()} running")
    runtime.start_background()
    try:
        runtime.scheduler(lock=lock).run_forever(stop)
    finally:
        lock.release()
        runtime.stop()


@main.command()
@click.option("--processes", default=1, show_default=True, help="Worker processes to run.")
@click.option("--threads", default=None, type=int, help="Threads per process.")
def worker(processes: int, threads: int | None) -> None:
    """Worker processes taking documents from the broker (KOPPEL_BROKER_URL)."""
    config = _config()
    if config.embedded:
        raise click.UsageError("KOPPEL_BROKER_URL is empty: embedded mode runs its workers "
                               "inside `koppel serve` or `koppel demo`")
    if processes > 1:
        _run_children(processes, threads)
        return
    runtime = _runtime(database_threads=threads or config.worker_threads)
    runtime.start_workers(threads)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    click.echo(f"worker {os.getpid()} consuming {', '.join(runtime.actors.queues)}")
    stop.wait()
    runtime.stop()


def _run_children(processes: int, threads: int | None) -> None:
    from workers.supervisor import Supervisor

    command = [sys.executable, "-m", "web.cli"]
    if click.get_current_context().find_root().params.get("verbose"):
        command.append("-v")
    command += ["worker", "--processes", "1"]
    if threads:
        command += ["--threads", str(threads)]
    click.echo(f"worker supervisor {os.getpid()} keeps {processes} worker processes running")
    sys.exit(Supervisor(command, processes).run())


def _numbered(runtime, number: str, connection: str | None) -> list[dict]:
    """The documents with this number (in the named connection); two shops may both have an
    order 7001, and then the connection must be named."""
    from projections.queries import documents_numbered

    runtime.projector.catch_up()
    scope = [str(connection_id_named(runtime, connection))] if connection else None
    rows = documents_numbered(runtime.store, number, scope)
    if not rows:
        raise click.ClickException(f"no document with number {number}"
                                   + (f" in {connection!r}" if connection else ""))
    names = sorted({row["connection"] or row["connection_id"] for row in rows})
    if len(names) > 1:
        raise click.ClickException(
            f"{number} is a document of {len(names)} connections: "
            f"{', '.join(repr(n) for n in names)}; name one with --connection NAME")
    return rows


CONNECTION = click.option("--connection", default=None,
                          help="The connection's name, when two have this number.")


@main.command()
@click.argument("number")
@CONNECTION
@click.option("--json", "as_json", is_flag=True, help="Print the history as JSON.")
def audit(number: str, connection: str | None, as_json: bool) -> None:
    """Print a document's whole history: every event, source, booking lines, ledger calls."""
    import json
    from uuid import UUID

    from web.audit import document_history, history_text

    runtime = _runtime()
    try:
        for row in _numbered(runtime, number, connection):
            history = document_history(runtime.app, UUID(row["id"]))
            click.echo(json.dumps(history, indent=2, ensure_ascii=False) if as_json
                       else history_text(history))
    finally:
        runtime.stop()


@main.command()
@click.argument("number")
@CONNECTION
@click.option("--by", required=True, help="Who asks (kept in the document's history).")
@click.option("--reason", required=True, help="Why (kept in the document's history).")
def reprocess(number: str, connection: str | None, by: str, reason: str) -> None:
    """Fetch a document in Errors or Open from the shop again and run it through the rules
    (never a posted one)."""
    from uuid import UUID

    from application.errors import KoppelError
    from domain.document import DocumentError

    runtime = _runtime()
    try:
        for row in _numbered(runtime, number, connection):
            doc_id = UUID(row["id"])
            try:
                runtime.processing.request_reprocess(doc_id, by=by, reason=reason)
            except DocumentError as error:
                raise click.ClickException(str(error)) from None
            except KoppelError as error:  # the shop: unreachable, refused, or no such document
                raise click.ClickException(error.message) from None
            if runtime.config.embedded:  # no worker outlives this command: do it here
                outcome = runtime.processing.process(doc_id)
                click.echo(f"{number}: {outcome.status}")
            else:
                runtime.actors.process.send(str(doc_id))
                click.echo(f"{number}: sent to the workers")
    finally:
        runtime.stop()


@main.command("import")
@click.option("--connection", "name", required=True, help="The connection's name.")
@click.option("--from", "date_from", required=True, help="First day (YYYY-MM-DD).")
@click.option("--to", "date_to", required=True, help="Last day, included (YYYY-MM-DD).")
@click.option("--dry-run", is_flag=True,
              help="Only say how many documents and what total it would book.")
@click.option("--by", default="cli", show_default=True, help="Who imports (recorded).")
def import_history(name: str, date_from: str, date_to: str, dry_run: bool, by: str) -> None:
    """Book the shop's documents of a period before the connection's start date. Ctrl-C
    pauses; the same command again goes on where it stopped, and books nothing twice."""
    from application.history_import import period_of

    try:
        period = period_of(_moment(date_from), _moment(date_to))
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    from application.errors import KoppelError

    runtime = _runtime()
    try:
        aggregate = runtime.app.connection_named(name)
        if aggregate is None:
            raise click.ClickException(f"no connection named {name!r}")
        _import(runtime, aggregate.id, period, dry_run, by, date_from, date_to)
    except KoppelError as error:  # the shop unreachable, say: said plainly, nothing lost
        raise click.ClickException(error.message) from None
    finally:
        runtime.stop()


def _import(runtime, conn_id, period, dry_run: bool, by: str, date_from: str,
            date_to: str) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    if dry_run:
        _print_dry_run(runtime.imports.dry_run(conn_id, period))
        return
    imported = runtime.imports.start(conn_id, period, by=by)
    if not runtime.config.embedded:
        process = lambda doc_id: runtime.actors.process.send(str(doc_id))  # noqa: E731
    else:
        process = None  # no worker outlives this command: processed here
    with Progress(TextColumn("importing"), BarColumn(), MofNCompleteColumn()) as bar:
        task = bar.add_task("import", total=imported.total, completed=imported.position)
        try:
            imported = runtime.imports.run(
                imported.id, lambda i: bar.update(task, completed=i.position), process)
        except KeyboardInterrupt:
            imported = runtime.imports.pause(imported.id, by=by)
    if imported.state == "finished":
        runtime.projector.catch_up()
        click.echo(f"imported {imported.total} documents of {date_from} to {date_to}")
    else:
        click.echo(f"paused at {imported.position} of {imported.total}; the same "
                   f"command goes on from there")


def _print_dry_run(result) -> None:
    click.echo(f"{result.listed} documents in the period; nothing was sent")
    click.echo(f"  would be booked:   {result.to_book}, total {result.total} (incl. VAT)")
    click.echo(f"  booked already:    {result.booked_already}")
    click.echo(f"  wait for payment:  {result.waiting}")
    for code, count in sorted(result.failing.items()):
        click.echo(f"  would be in Errors: {count} ({code})")


@main.group()
def projections() -> None:
    """The read models behind the pages."""


@projections.command()
def rebuild() -> None:
    """Drop every read model and replay the event log."""
    from web.replay_progress import replay_progress

    runtime = _runtime()
    try:
        started = time.monotonic()
        with replay_progress() as progress:  # a long log takes a while: show how far
            applied = runtime.projector.rebuild(progress)
        seconds = max(time.monotonic() - started, 1e-6)
        click.echo(f"read models rebuilt from {applied} events in {seconds:.1f}s "
                   f"({applied / seconds:,.0f} events/s)")
    finally:
        runtime.stop()


@main.group()
def connections() -> None:
    """Connections (one shop linked to one ledger) and their settings files."""


@connections.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--owner", default=None,
              help="The merchant's e-mail (an account of role merchant); needed for a new "
                   "connection.")
def import_connection(file: Path, owner: str | None) -> None:
    """Create a connection from a settings file, or record its changed settings."""
    from application.settings import SettingsError, load_settings

    try:
        settings = load_settings(file)
    except (OSError, SettingsError) as error:
        raise click.ClickException(f"{file}: {error}") from None
    runtime = _runtime()
    try:
        merchant = runtime.accounts.by_email(owner) if owner else None
        if owner and (merchant is None or merchant.role != "merchant"):
            raise click.ClickException(
                f"{owner} has no merchant account; make one first: "
                f"koppel users add {owner} --role merchant")
        if merchant is None and runtime.app.connection_named(settings.name) is None:
            raise click.ClickException(
                "a new connection belongs to a merchant: --owner EMAIL "
                "(make the account with: koppel users add EMAIL --role merchant)")
        connection, changed = runtime.connections.save(settings, by="cli")
        if merchant is not None:
            runtime.accounts.grant(merchant.email, connection.id, by="cli")
            click.echo(f"owner: {merchant.email}")
        state = "saved" if changed else "unchanged"
        click.echo(f"connection {connection.name!r} {state} (settings version "
                   f"{connection.version})")
        click.echo(f"  {_span_text(connection.span)}")
        _register_webhooks(runtime, connection.id)
    finally:
        runtime.stop()


def _echo_webhook_addresses(runtime, connection_id) -> None:
    from web.webhooks import EVENTS

    for event in EVENTS:
        click.echo(f"  webhook {event}: {runtime.webhook_address(connection_id, event)}")


@connections.command("rotate-token")
@click.argument("name")
@click.option("--by", default="cli", show_default=True,
              help="Who rotates it (kept in the connection's history).")
def rotate_token(name: str, by: str) -> None:
    """Give one connection new webhook addresses; the old ones stop working at once.

    Enter the new addresses in the shop's webhook settings; other connections keep theirs."""
    runtime = _runtime()
    try:
        aggregate = runtime.app.connection_named(name)
        if aggregate is None:
            raise click.ClickException(f"no connection named {name!r}")
        runtime.connections.rotate_webhook_token(aggregate.id, by=by)
        click.echo(f"connection {name!r}: new webhook addresses (the old ones are refused "
                   f"from now on)")
        _register_webhooks(runtime, aggregate.id)  # and the old ones removed at the shop
    finally:
        runtime.stop()


def _register_webhooks(runtime, conn_id) -> None:
    """Through the shop's API; when the shop cannot be reached, the addresses to enter by
    hand (and ``koppel connections import`` again later registers them)."""
    from application.errors import KoppelError

    try:
        added = runtime.onboarding.register_webhooks(conn_id)
    except KoppelError as error:
        click.echo(f"  the shop's webhooks could not be registered: {error.message}")
        _echo_webhook_addresses(runtime, conn_id)
        return
    click.echo(f"  webhooks registered at the shop: {', '.join(added) or 'all there already'}")


def _span_text(span) -> str:
    if span.start_date is None:
        return "books every document the shop has (no start date)"
    text = f"books what the shop creates from {span.start_date.isoformat()} on"
    for period in span.imported:
        text += f"; imported {period.start.isoformat()} to {period.end.isoformat()}"
    return text


def _moment(value: str):
    """A date (midnight, UTC) or a date and time, as ISO text."""
    from domain.start_date import moment

    try:
        return moment(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD) or date and time "
                                 f"(YYYY-MM-DDTHH:MM)") from None


@connections.command("start-date")
@click.argument("name")
@click.argument("when", required=False)
@click.option("--by", default="cli", show_default=True, help="Who moves it (recorded).")
def start_date(name: str, when: str | None, by: str) -> None:
    """Show a connection's start date, or move it to WHEN (the shop's documents created before
    it are not booked, unless their period is imported)."""
    moment = _moment(when) if when else None
    runtime = _runtime()
    try:
        aggregate = runtime.app.connection_named(name)
        if aggregate is None:
            raise click.ClickException(f"no connection named {name!r}")
        if moment is not None:
            changed = runtime.connections.set_start_date(aggregate.id, moment, by=by)
            click.echo("start date moved" if changed else "start date unchanged")
        click.echo(f"{name}: {_span_text(runtime.connections.get(aggregate.id).span)}")
    finally:
        runtime.stop()


@connections.command("export")
@click.argument("name")
def export_connection(name: str) -> None:
    """Print a connection's settings file (secrets stay sealed or as env: references)."""
    from application.settings import settings_to_toml

    runtime = _runtime()
    try:
        aggregate = runtime.app.connection_named(name)
        if aggregate is None:
            raise click.ClickException(f"no connection named {name!r}")
        click.echo(settings_to_toml(runtime.connections.exported(aggregate.id)), nl=False)
    finally:
        runtime.stop()


@main.command()
def doctor() -> None:
    """Check this installation: database, broker, secret key, each connection's credentials.

    One line per check; the exit status is 1 when anything needs fixing."""
    from web.doctor import examine

    healthy = True
    for finding in examine():
        click.echo(finding.line())
        healthy = healthy and finding.ok
    if not healthy:
        sys.exit(1)


main.add_command(preview)
main.add_command(dryrun)
main.add_command(reconcile)
main.add_command(users)
main.add_command(ledgers)

if __name__ == "__main__":
    main()
