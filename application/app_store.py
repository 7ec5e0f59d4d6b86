"""Installing koppel from the CCV App Store (ccvshop-api.md, section 1b).

Three calls, each signed by CCV with the App Secret Key (``verify``): the handshake hands over
the shop's API keys (recorded, the secret sealed), the install address is where the merchant's
browser arrives (the connection is made with the shop's keys, its start date is that moment,
the app is marked installed at the shop, koppel's webhooks are registered), and the uninstall
call pauses the connection, keeping its history. A connection made by an install waits,
paused, until its ledger is connected.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import replace
from typing import Callable
from urllib.parse import urlparse
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from application.app import Koppel
from application.connections import ConnectionDirectory, UnknownConnection
from application.onboarding import Onboarding
from application.pausing import Pausing
from domain.app_install import (LEDGER_NOT_CONNECTED, UNINSTALLED, AppInstallation,
                                installation_id)
from domain.settings import Settings


class InstallError(ValueError):
    """A call that is not the App Store's, or that koppel cannot act on; ``message`` says why
    (for the log and the answer, never with a secret in it)."""


def verify(app_secret: str, url: str, payload: bytes | str, given: str) -> bool:
    """CCV's App Store signature: hex HMAC-SHA512 of ``url|payload`` under the App Secret Key."""
    if not app_secret or not given:
        return False
    raw = payload if isinstance(payload, bytes) else payload.encode("utf-8")
    expected = hmac.new(app_secret.encode("utf-8"), url.encode("utf-8") + b"|" + raw,
                        hashlib.sha512).hexdigest()
    # As bytes: compare_digest refuses str with non-ASCII characters, and a forged hash may
    # hold any (a 403 then, never a 500).
    return hmac.compare_digest(expected.encode("ascii"),
                               given.strip().lower().encode("utf-8", "replace"))


# The connection's id comes from the shop's address, and a removed connection stays removed
# (its history may have been erased): installing again cannot bring it back.
REMOVED = ("This shop's connection was removed from koppel, so it cannot be installed again. "
           "Ask koppel's support for help.")

# Builds a new connection's settings from the shop's name, root and keys.
SettingsFor = Callable[[str, str, str, str], Settings]


class AppStore:
    def __init__(self, app: Koppel, connections: ConnectionDirectory, onboarding: Onboarding,
                 pausing: Pausing) -> None:
        self.app, self.connections = app, connections
        self.onboarding, self.pausing = onboarding, pausing

    def handshake(self, body: object) -> AppInstallation:
        if not isinstance(body, dict):
            raise InstallError("the handshake is not a JSON object")
        fields = {key: body.get(key) for key in ("api_public", "api_secret", "api_root",
                                                 "return_url")}
        missing = [key for key, value in fields.items() if not isinstance(value, str) or
                   not value.strip()]
        if missing:
            raise InstallError(f"the handshake lacks {', '.join(missing)}")
        for key in ("api_root", "return_url"):
            if urlparse(fields[key]).scheme not in ("http", "https"):
                raise InstallError(f"the handshake's {key} is not an http(s) address")
        sealed = self.connections.box.seal(fields["api_secret"])
        existing = self.find(fields["api_public"])
        if existing is None:
            installation = AppInstallation.handshake(fields["api_public"],
                                                     fields["api_root"].rstrip("/"), sealed,
                                                     fields["return_url"])
        else:
            installation = existing
            installation.repeat_handshake(fields["api_root"].rstrip("/"), sealed,
                                          fields["return_url"])
        self.app.save(installation)
        return installation

    def find(self, api_public: str) -> AppInstallation | None:
        try:
            found = self.app.repository.get(installation_id(api_public))
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, AppInstallation) else None

    def install(self, api_public: str, settings_for: SettingsFor, by: str) -> AppInstallation:
        """The connection for the shop that did the handshake (made, or given the new keys),
        marked installed at the shop, with koppel's webhooks registered."""
        installation = self.find(api_public)
        if installation is None:
            raise InstallError("no handshake came from the App Store for this shop; install "
                               "koppel from the App Store again")
        secret = self.connections.box.open(installation.sealed_secret, {})
        name = urlparse(installation.api_root).hostname or installation.api_root
        existing = self.app.connection_named(name)
        if existing is not None and existing.removed:
            raise InstallError(REMOVED)
        if existing is None:
            settings = settings_for(name, installation.api_root, api_public, secret)
        else:  # installed again: the merchant's settings stay, the shop's keys are new
            settings = self.connections.get(existing.id).settings
            settings = replace(settings, shop=replace(
                settings.shop, api_root=installation.api_root, public_key=api_public,
                secret=secret))
        connection, _ = self.connections.save(settings, by=by)
        if not self._ledger_connected(connection.settings):  # it waits for its ledger now
            self.pausing.pause(connection.id, by=by, reason=LEDGER_NOT_CONNECTED,
                               replace=connection.paused == UNINSTALLED)
        elif connection.paused == UNINSTALLED:
            self.pausing.resume(connection.id, by=by)
        self.connections.shop(self.connections.get(connection.id)).mark_app_installed()
        self.onboarding.register_webhooks(connection.id)
        installation.install(connection.id, by=by)
        self.app.save(installation)
        return installation

    def uninstall(self, body: object) -> UUID | None:
        """The connection is paused and keeps everything; None when koppel knows no
        installation for the shop (answered all the same: the App Store only informs)."""
        api_public = body.get("api_public") if isinstance(body, dict) else None
        installation = self.find(api_public) if isinstance(api_public, str) else None
        if installation is None or installation.connection_id is None:
            return None
        if installation.uninstall():
            self.app.save(installation)
        try:
            connection = self.connections.get(installation.connection_id)
        except UnknownConnection:  # removed in koppel already: nothing left to pause
            return None
        # Whatever it was paused for (its ledger, say), it waits for a new install now.
        self.pausing.pause(connection.id, by="CCV App Store", reason=UNINSTALLED, replace=True)
        return connection.id

    @staticmethod
    def _ledger_connected(settings: Settings) -> bool:
        ledger = settings.ledger
        return bool(ledger.api_token or ledger.api_key)
