"""koppel installed from the CCV App Store in one shop (ccvshop-api.md, section 1b).

The App Store's handshake hands over the shop's API keys before the merchant's browser arrives
at the install address; both are recorded here, keyed by the shop's public key, so any web
process can finish the install. The secret is sealed by the application before it is
recorded. Uninstalling pauses the connection and keeps its history.
"""

from __future__ import annotations

from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.ids import KOPPEL_NAMESPACE

# Why a connection made by an install is paused: it has no ledger yet, or it was uninstalled.
LEDGER_NOT_CONNECTED = "ledger not connected yet"
UNINSTALLED = "uninstalled in the CCV App Store"


def installation_id(api_public: str) -> UUID:
    return uuid5(KOPPEL_NAMESPACE, f"ccv-app:{api_public}")


class AppInstallation(Aggregate):
    TOPIC = "koppel:AppInstallation"

    class HandshakeReceived(Aggregate.Created):
        TOPIC = "koppel:AppInstallation.HandshakeReceived:v1"
        api_public: str
        api_root: str
        sealed_secret: str
        return_url: str

    class Created(Aggregate.Created):
        """Never triggered (created by ``HandshakeReceived``); the library asks for one."""

        TOPIC = "koppel:AppInstallation.Created:unused"

    def __init__(self, api_public: str, api_root: str, sealed_secret: str,
                 return_url: str) -> None:
        self._handshake(api_public, api_root, sealed_secret, return_url)
        self.connection_id: UUID | None = None
        self.installed = False

    def _handshake(self, api_public, api_root, sealed_secret, return_url) -> None:
        if not sealed_secret.startswith("enc:"):
            raise ValueError("the shop's API secret must be sealed before it is recorded")
        self.api_public, self.api_root = api_public, api_root
        self.sealed_secret, self.return_url = sealed_secret, return_url

    @staticmethod
    def create_id(api_public: str) -> UUID:
        return installation_id(api_public)

    @classmethod
    def handshake(cls, api_public: str, api_root: str, sealed_secret: str,
                  return_url: str) -> "AppInstallation":
        return cls._create(cls.HandshakeReceived, api_public=api_public, api_root=api_root,
                           sealed_secret=sealed_secret, return_url=return_url)

    class HandshakeRepeated(Aggregate.Event):
        """Installed again (after an uninstall, or the keys were renewed)."""

        TOPIC = "koppel:AppInstallation.HandshakeRepeated:v1"
        api_root: str
        sealed_secret: str
        return_url: str

        def apply(self, installation: "AppInstallation") -> None:
            installation._handshake(installation.api_public, self.api_root,
                                    self.sealed_secret, self.return_url)

    def repeat_handshake(self, api_root: str, sealed_secret: str, return_url: str) -> None:
        self.trigger_event(self.HandshakeRepeated, api_root=api_root,
                           sealed_secret=sealed_secret, return_url=return_url)

    class Installed(Aggregate.Event):
        TOPIC = "koppel:AppInstallation.Installed:v1"
        connection_id: UUID
        by: str

        def apply(self, installation: "AppInstallation") -> None:
            installation.connection_id = self.connection_id
            installation.installed = True

    def install(self, connection_id: UUID, by: str) -> None:
        self.trigger_event(self.Installed, connection_id=connection_id, by=by)

    class Uninstalled(Aggregate.Event):
        TOPIC = "koppel:AppInstallation.Uninstalled:v1"

        def apply(self, installation: "AppInstallation") -> None:
            installation.installed = False

    def uninstall(self) -> bool:
        if not self.installed:
            return False
        self.trigger_event(self.Uninstalled)
        return True
