"""Connecting a shop and a ledger: the calls that prove a connection works, and the steps a
merchant takes once instead of a support person with a shell.

- ``register_webhooks``: koppel registers its own webhook addresses at the shop through the
  API (the ones there already are left alone), so nobody pastes addresses.
- ``check_shop`` / ``check_ledger``: one real call each with the stored credentials; the
  outcome is recorded on the connection (``StatusChecked``), which is what the two status dots
  show, with the time of the check. A dot is green only after a call succeeded.
- ``connect_ledger``: a pasted API token (e-Boekhouden) or API key (Billit) is tried against
  the ledger before it is saved; a refused one is not saved, and the ledger's refusal is said
  in plain words. (Billit by OAuth: ``web/connect.py``.)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Iterable
from uuid import UUID

from application.app import Koppel
from application.connections import ConnectionDirectory
from application.errors import CredentialsError, KoppelError
from application.pausing import Pausing
from domain.app_install import LEDGER_NOT_CONNECTED


@dataclass(frozen=True)
class CheckOutcome:
    ok: bool
    code: str = ""
    message_nl: str = ""
    message_en: str = ""

    @classmethod
    def of(cls, error: KoppelError) -> "CheckOutcome":
        return cls(False, error.code, error.message_nl, error.message)


class Onboarding:
    def __init__(self, app: Koppel, connections: ConnectionDirectory, pausing: Pausing,
                 webhook_address: Callable[[UUID, str], str], events: Iterable[str]) -> None:
        self.app, self.connections, self.pausing = app, connections, pausing
        self.webhook_address, self.events = webhook_address, tuple(events)

    # -- the shop --------------------------------------------------------------------------

    def register_webhooks(self, conn_id: UUID) -> list[str]:
        """Registers koppel's address for every event the shop does not send to it yet, and
        removes koppel's stale ones for this connection; returns the events registered now.
        A call that fails is recorded on the shop's dot."""
        connection = self.connections.get(conn_id)
        shop = self.connections.shop(connection)
        wanted = [(event, self.webhook_address(conn_id, event)) for event in self.events]
        # koppel's earlier addresses for this connection (a token rotated since) are
        # refused by koppel: the shop should not keep sending to them.
        ours = f"/webhooks/{conn_id}/"
        try:
            hooks = shop.list_webhooks()
            for hook in hooks:
                pair = (hook.get("event"), hook.get("address"))
                if ours in str(pair[1]) and pair not in wanted and hook.get("id") is not None:
                    shop.delete_webhook(int(hook["id"]))
            present = {(h.get("event"), h.get("address")) for h in hooks}
            added = []
            for event, address in wanted:
                if (event, address) not in present:
                    shop.register_webhook(event, address)
                    added.append(event)
        except KoppelError as error:
            self._record(conn_id, "shop", CheckOutcome.of(error))
            raise
        self._record(conn_id, "shop", CheckOutcome(True))
        return added

    def check_shop(self, conn_id: UUID) -> CheckOutcome:
        connection = self.connections.get(conn_id)
        try:
            self.connections.shop(connection).list_webhooks()
            outcome = CheckOutcome(True)
        except KoppelError as error:
            outcome = CheckOutcome.of(error)
        self._record(conn_id, "shop", outcome)
        return outcome

    # -- the ledger ------------------------------------------------------------------------

    def check_ledger(self, conn_id: UUID) -> CheckOutcome:
        connection = self.connections.get(conn_id)
        try:
            self._try_ledger(self.connections.ledger(connection), connection.settings)
            outcome = CheckOutcome(True)
        except KoppelError as error:
            outcome = CheckOutcome.of(error)
        self._record(conn_id, "ledger", outcome)
        if outcome.ok and connection.credentials_problem:
            self.connections.reconnected(conn_id, by="ledger check")
        return outcome

    def connect_ledger(self, conn_id: UUID, credential: str, by: str) -> CheckOutcome:
        """The merchant pasted the ledger's credential: e-Boekhouden's API token or Billit's
        API key. It is tried against the ledger first; one the ledger refuses is not saved
        (the refusal is recorded on the ledger's dot and said in Dutch and English). One it
        accepts is saved, sealed, as a new settings version, and documents go on."""
        credential = (credential or "").strip()
        connection = self.connections.get(conn_id)
        settings = connection.settings
        billit = settings.ledger.system == "billit"
        if not credential:
            return CheckOutcome(False, "EMPTY", *(
                ("Plak de API-sleutel uit Billit.", "Paste the API key from Billit.") if billit
                else ("Plak het API-token uit e-Boekhouden.",
                      "Paste the API token from e-Boekhouden.")))
        field = "api_key" if billit else "api_token"
        new = replace(settings, ledger=replace(settings.ledger, **{field: credential}))
        connectors = self.connections.connectors
        trial = connectors.billit(new, lambda path: credential, None) if billit else \
            connectors.eboekhouden(new, lambda path: credential)
        try:
            self._try_ledger(trial, new)
        except CredentialsError as error:  # the credential itself: not saved
            outcome = CheckOutcome.of(error)
            self._record(conn_id, "ledger", outcome)
            return outcome
        except KoppelError as error:  # the credential works; the settings need a look
            outcome = CheckOutcome.of(error)
        else:
            outcome = CheckOutcome(True)
        finally:
            close = getattr(trial, "close", None)
            if close:
                close()
        self.connections.save(new, by=by)
        self.connections.reconnected(conn_id, by=by)
        self._record(conn_id, "ledger", outcome)
        if connection.paused == LEDGER_NOT_CONNECTED:  # installed, waiting for its ledger
            self.pausing.resume(conn_id, by=by)
        return outcome

    @staticmethod
    def _try_ledger(ledger, settings) -> None:
        """One real call that needs working credentials: e-Boekhouden opens a session and
        finds the debtors account of the settings; Billit reads the account it is given."""
        if settings.ledger.system == "billit":
            ledger.account_information()
        else:
            ledger.ledger_id(settings.ledger.debtors_account)

    def _record(self, conn_id: UUID, system: str, outcome: CheckOutcome) -> None:
        self.connections.record(conn_id, lambda connection: connection.record_check(
            system, outcome.ok, outcome.code, outcome.message_nl, outcome.message_en))


