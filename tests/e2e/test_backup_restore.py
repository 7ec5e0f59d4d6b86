"""docs/operations.md's backup and restore, done as written: pg_dump of an installation with
posted documents, pg_restore into a new database, `koppel projections rebuild`; the read models
come back the same and the restored koppel books nothing again, not even an order it booked
after the backup was made (the ledger's own guards and koppel's lookups find it)."""

from __future__ import annotations

import subprocess
import uuid
from uuid import UUID

import psycopg
from click.testing import CliRunner

from tests.conftest import PG
from tests.e2e.processes import koppel_env
from tests.harness import Harness
from web.cli import main


def _admin():
    return psycopg.connect(host=PG["host"], port=PG["port"], user=PG["user"], dbname="postgres",
                           autocommit=True)


def test_a_restored_backup_has_the_same_books_and_posts_nothing_again(
        postgres_url, fakes_on_ports, paid_domestic_orders, tmp_path):
    h = Harness(postgres_url, servers=fakes_on_ports)
    restored = None
    try:
        orders = paid_domestic_orders(4)
        for order in orders[:3]:
            doc_id = h.runtime.processing.intake(h.connection.id, "order",
                                                 h.put_order(order)["id"], "test")
            h.process(doc_id)
        rows = h.rows()
        assert [(r["status"], r["payment_status"]) for r in rows] == [("posted", "posted")] * 3
        events = h.runtime.app.recorder.max_notification_id()

        dump = tmp_path / "koppel.dump"
        subprocess.run(["pg_dump", "--format=custom", f"--file={dump}", postgres_url],
                       check=True, timeout=120)
        # Booked after the backup was made: the restored event store will not know it.
        late = h.put_order(orders[3])["id"]
        h.process(h.runtime.processing.intake(h.connection.id, "order", late, "test"))
        booked = (len(h.mutations(2)), len(h.mutations(3)))
        assert booked == (4, 4)
        name = f"koppel_test_{uuid.uuid4().hex[:12]}"
        with _admin() as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        restored = postgres_url.rsplit("/", 1)[0] + f"/{name}"
        subprocess.run(["pg_restore", "--no-owner", f"--dbname={restored}", str(dump)],
                       check=True, timeout=120)

        env = {**koppel_env(h), "KOPPEL_DATABASE_URL": restored}
        result = CliRunner().invoke(main, ["projections", "rebuild"], env=env)
        assert result.exit_code == 0, result.output
        assert f"read models rebuilt from {events} events" in result.output

        again = Harness(restored, servers=fakes_on_ports)  # the same shop and ledger
        try:
            assert again.rows() == rows
            # Everything the restored installation does when it starts: re-send the inbox,
            # re-queue, sweep the shop, and take every document as far as it can go.
            again.runtime.start_workers(2)
            again.runtime.dispatcher.run_once()
            assert again.runtime.sweeper.run_once().missed == 1  # booked after the backup
            again.wait_until(lambda: len(again.rows()) == 4 and all(
                r["payment_status"] in ("posted", "failed") for r in again.rows()), timeout=30)
            for row in again.rows():
                again.process(UUID(row["id"]))
            assert (len(again.mutations(2)), len(again.mutations(3))) == booked
            now = again.rows()
            assert [r for r in now if r["shop_id"] != late] == rows
            # The late order is found in the ledger, sale and payment, not booked again.
            [found] = [r for r in now if r["shop_id"] == late]
            assert (found["status"], found["found_by_lookup"], found["payment_status"],
                    found["payment_found_by_lookup"]) == ("posted", 1, "posted", 1)
        finally:
            again.close()
    finally:
        h.close()
        if restored:
            with _admin() as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{restored.rsplit("/", 1)[1]}" '
                              f'WITH (FORCE)')
