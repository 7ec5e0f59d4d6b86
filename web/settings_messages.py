"""The settings file's problems (application/settings.py) in the page's language.

The page and ``koppel connections import`` share one validation and one set of messages; the
file import speaks English, the page also Dutch. Each message is translated whole (gettext);
the few that carry a value are matched by their fixed words and the value put back.
"""

from __future__ import annotations

import re

from flask_babel import gettext

from web.i18n import N_

FIXED = (
    N_("missing (required)"), N_("must not be empty"), N_("not a string (put it in quotes)"),
    N_("not a number"), N_("not true or false"), N_("not a whole number"),
    N_('"env:" must be followed by an environment variable name'),
    N_("not an EU member state code (two capitals, e.g. NL)"),
    N_("not an EU member state code (two capitals, e.g. DE)"),
    N_("not a known time zone (e.g. Europe/Amsterdam)"), N_("unknown key"), N_("not a table"),
    N_("not a URL (https://...)"), N_("must be 0 to 365 days"), N_("must be between 0 and 1"),
    N_("must be 0 to 100"), N_("not a list of tables"),
    N_('must be "VAT_OSS" (the marker that asks for the split of R4.7)'),
    N_("missing (required for e-Boekhouden, R4.8)"), N_("missing (required for OSS, R4.7)"),
    N_("missing (required for e-Boekhouden, R4.6)"),
    N_("missing (required when payments are enabled, R8.2)"),
    N_("is the home country: OSS is for other EU countries (R3.3)"),
)
WITH_VALUE = (
    (re.compile(r"rate (?P<rate>\S+) is already (?P<other>vat\[\d+\])\Z"),
     N_("rate %(rate)s is already %(other)s")),
    (re.compile(r"must be one of (?P<options>.+)\Z"), N_("must be one of %(options)s")),
)


def translate(message: str) -> str:
    """The message in the page's language; one koppel does not know stays as it is."""
    if message in FIXED:
        return gettext(message)
    for pattern, text in WITH_VALUE:
        found = pattern.match(message)
        if found:
            return gettext(text, **found.groupdict())
    return message
