"""``koppel users``: accounts and what they may see, from the server's shell.

A password is asked for (twice) when the command runs in a terminal, else made up and printed
once; it is never stored or logged anywhere but as its hash.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from datetime import date, datetime, timezone

import click

from domain.access import ROLES
from domain.users import UserError


@contextmanager
def _runtime():
    from web.bootstrap import bootstrap
    from web.config import from_environment

    runtime = bootstrap(from_environment())
    try:
        yield runtime
    except UserError as error:  # an unknown account, a short password, a wrong role
        raise click.ClickException(str(error)) from None
    finally:
        runtime.stop()


def connection_id_named(runtime, name: str):
    aggregate = runtime.app.connection_named(name)
    if aggregate is None:
        raise click.ClickException(f"no connection named {name!r}")
    return aggregate.id


def _password(generate: bool) -> tuple[str, bool]:
    """(password, made up here)."""
    if not generate and sys.stdin.isatty():
        return click.prompt("password", hide_input=True, confirmation_prompt=True), False
    from application.users import Accounts

    return Accounts.new_password(), True


@click.group()
def users() -> None:
    """People who sign in to the dashboard, and the connections they see."""


@users.command("add")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--connection", "names", multiple=True,
              help="A connection this merchant owns or this accountant sees (repeatable).")
@click.option("--generate", is_flag=True, help="Make up a password and print it once.")
def add(email: str, role: str, names: tuple[str, ...], generate: bool) -> None:
    """Create an account."""
    with _runtime() as runtime:
        connections = [connection_id_named(runtime, name) for name in names]
        password, made_up = _password(generate)
        user = runtime.accounts.add(email, role, password, by="cli", connections=connections)
        click.echo(f"{user.email}: {role} account created"
                   + (f", sees {', '.join(names)}" if names else ""))
        if made_up:
            click.echo(f"password (shown once): {password}")


@users.command("password")
@click.argument("email")
@click.option("--generate", is_flag=True, help="Make up a password and print it once.")
def password(email: str, generate: bool) -> None:
    """Set a new password (signs the person out everywhere)."""
    with _runtime() as runtime:
        user = runtime.accounts.require(email)
        new, made_up = _password(generate)
        runtime.accounts.set_password(user, new, by="cli")
        click.echo(f"{user.email}: new password set")
        if made_up:
            click.echo(f"password (shown once): {new}")


@users.command("grant")
@click.argument("email")
@click.option("--connection", "name", required=True)
def grant(email: str, name: str) -> None:
    """Let a merchant or accountant see a connection."""
    with _runtime() as runtime:
        changed = runtime.accounts.grant(email, connection_id_named(runtime, name), by="cli")
        click.echo(f"{email} sees {name}" + ("" if changed else " (already)"))


@users.command("revoke")
@click.argument("email")
@click.option("--connection", "name", required=True)
def revoke(email: str, name: str) -> None:
    """Stop a merchant or accountant seeing a connection."""
    with _runtime() as runtime:
        changed = runtime.accounts.revoke(email, connection_id_named(runtime, name), by="cli")
        click.echo(f"{email} no longer sees {name}" if changed
                   else f"{email} did not see {name}")


@users.command("list")
def list_users() -> None:
    """Every account, its role and the connections it sees."""
    from projections import queries

    with _runtime() as runtime:
        runtime.projector.catch_up()
        for person in queries.people(runtime.store):
            extra = " (second factor)" if person["second_factor"] else ""
            click.echo(f"{person['email']}\t{person['role']}{extra}\t"
                       f"{', '.join(person['connections']) or '-'}")


@users.command("second-factor")
@click.argument("email")
def second_factor(email: str) -> None:
    """Turn on a TOTP code at sign-in; prints the address for the authenticator app once."""
    with _runtime() as runtime:
        uri = runtime.accounts.enable_second_factor(email, by="cli")
        click.echo(f"{email} signs in with a code from now on. Add this to the authenticator "
                   f"app (shown once):\n{uri}")


@users.command("who-could-see")
@click.argument("connection")
@click.option("--on", "day", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="The day (UTC), default today.")
def who_could_see(connection: str, day: datetime | None) -> None:
    """Everyone who could see a connection on a day: its people, and support."""
    from projections import queries

    on: date = day.date() if day else datetime.now(timezone.utc).date()
    with _runtime() as runtime:
        conn_id = connection_id_named(runtime, connection)
        runtime.projector.catch_up()
        for row in queries.who_could_see(runtime.store, str(conn_id), on):
            click.echo(f"{row['email']}\t{row['role']}\tfrom {row['from']}\t"
                       f"until {row['until'] or '-'}")
        for row in queries.consultations(runtime.store, str(conn_id), on):
            click.echo(f"{row['email']}\tlooked at {row['at']}\tbecause: {row['reason']}")
