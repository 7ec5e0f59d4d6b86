"""Outgoing e-mail (the password reset link) over SMTP, set up from the environment.

KOPPEL_SMTP_HOST, KOPPEL_SMTP_PORT (587), KOPPEL_SMTP_USER, KOPPEL_SMTP_PASSWORD,
KOPPEL_SMTP_FROM, KOPPEL_SMTP_SECURITY (``starttls``, ``ssl`` or ``none``; starttls by default).
Without a host koppel sends no e-mail and says so where a page would promise one.
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Mapping

SECURITY = ("starttls", "ssl", "none")


class MailError(Exception):
    pass


@dataclass(frozen=True)
class Mail:
    host: str = ""
    port: int = 587
    user: str = ""
    password: str = ""
    sender: str = "koppel@localhost"
    security: str = "starttls"
    timeout: float = 10.0

    @property
    def configured(self) -> bool:
        return bool(self.host)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> "Mail":
        security = (environ.get("KOPPEL_SMTP_SECURITY") or "starttls").lower()
        if security not in SECURITY:
            raise MailError(f"KOPPEL_SMTP_SECURITY is {security!r}; one of {', '.join(SECURITY)}")
        return cls(host=environ.get("KOPPEL_SMTP_HOST", ""),
                   port=int(environ.get("KOPPEL_SMTP_PORT") or (465 if security == "ssl" else 587)),
                   user=environ.get("KOPPEL_SMTP_USER", ""),
                   password=environ.get("KOPPEL_SMTP_PASSWORD", ""),
                   sender=environ.get("KOPPEL_SMTP_FROM") or "koppel@localhost",
                   security=security)

    def __repr__(self) -> str:  # the password stays out of logs and tracebacks
        return f"Mail(host={self.host!r}, port={self.port}, user={self.user!r}, <password hidden>)"

    def send(self, to: str, subject: str, body: str) -> None:
        if not self.configured:
            raise MailError("no SMTP server is set up (KOPPEL_SMTP_HOST)")
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.sender, to, subject
        message.set_content(body)
        smtp_class = smtplib.SMTP_SSL if self.security == "ssl" else smtplib.SMTP
        try:
            with smtp_class(self.host, self.port, timeout=self.timeout) as smtp:
                if self.security == "starttls":
                    smtp.starttls()
                if self.user:
                    smtp.login(self.user, self.password)
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as error:
            raise MailError(f"the e-mail to {to} was not sent: {error}") from None
