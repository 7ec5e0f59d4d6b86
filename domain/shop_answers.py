"""What the merchant is told when koppel cannot take a document in from the shop (R1).

The shop answered, but not with the document: an error status koppel does not expect, or an
answer not signed with the shop's own API secret. The document is then recorded without its
source, so it shows up (I2): in Open while koppel tries again, in Errors when trying again
will not change the answer.
"""

from __future__ import annotations

from dataclasses import dataclass

_KIND_NL = {"order": "bestelling", "invoice": "factuur"}


@dataclass(frozen=True)
class ShopProblem:
    code: str
    message_nl: str
    message_en: str
    retrying: bool  # True: koppel tries again by itself (Open); False: Errors


def refused(kind: str, shop_id: int, shop_code: str, said: str) -> ShopProblem:
    """A 4xx the shop will answer again however often koppel asks (not 401/403/404/429)."""
    nl, en = _KIND_NL.get(kind, kind), kind
    return ShopProblem(
        "SHOP_REFUSED",
        f"De winkel weigert {nl} {shop_id} aan koppel te geven ({shop_code}: {said}). "
        f"Opnieuw proberen verandert dat niet; los het op in de winkel en verwerk het "
        f"document dan opnieuw.",
        f"The shop refuses to give koppel {en} {shop_id} ({shop_code}: {said}). Trying again "
        f"will not change that; solve it in the shop, then process the document again.",
        retrying=False)


def unavailable(kind: str, shop_id: int, shop_code: str, said: str) -> ShopProblem:
    """A 5xx, a timeout, a rate limit: the shop may answer well a little later."""
    nl, en = _KIND_NL.get(kind, kind), kind
    return ShopProblem(
        "SHOP_UNAVAILABLE",
        f"De winkel gaf {nl} {shop_id} nu niet ({shop_code}: {said}); koppel probeert het "
        f"zelf opnieuw.",
        f"The shop did not give {en} {shop_id} just now ({shop_code}: {said}); koppel tries "
        f"again by itself.",
        retrying=True)


def untrusted(kind: str, shop_id: int) -> ShopProblem:
    """An answer whose ``x-hash`` does not verify with the shop's API secret: it may have been
    changed on the way, so it is not used. Often passing (a proxy), so koppel tries again."""
    nl, en = _KIND_NL.get(kind, kind), kind
    return ShopProblem(
        "SHOP_SIGNATURE",
        f"Het antwoord van de winkel over {nl} {shop_id} was niet ondertekend met de "
        f"API-sleutel van deze winkel; koppel vertrouwt het niet en probeert het opnieuw. "
        f"Blijft dit zo, controleer dan de API-sleutel en of iets tussen koppel en de "
        f"winkel de antwoorden verandert.",
        f"The shop's answer about {en} {shop_id} was not signed with this shop's API key; "
        f"koppel does not trust it and tries again. If this persists, check the API key and "
        f"whether something between koppel and the shop changes its answers.",
        retrying=True)
