"""The customer of a document (R1.3, R1.4), in the shape the debtor rules (R6) and the ledger
bodies (R7) need."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Address:
    name: str = ""
    company: str = ""
    street: str = ""
    housenumber: str = ""
    housenumber_suffix: str = ""
    address_line_1: str = ""
    address_line_2: str = ""
    zipcode: str = ""
    city: str = ""
    country: str = ""          # the shop's country name, e.g. "Nederland"
    country_code: str = ""     # ISO alpha-2

    @property
    def street_line(self) -> str:
        """Street + house number + suffix; the shop may fill address_line_1 instead (schema:
        "use either")."""
        number = f"{self.housenumber}{self.housenumber_suffix}".strip()
        if self.street:
            return f"{self.street} {number}".strip()
        return " ".join(part for part in (self.address_line_1, self.address_line_2) if part)

    @property
    def is_empty(self) -> bool:
        return not any(asdict(self).values())


@dataclass(frozen=True)
class Customer:
    company: str = ""
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    phone: str = ""
    btw: str = ""              # R1.3: the manual's [vatnumber]
    kvk: str = ""              # R1.3: customer.kvk, not inside billingaddress
    billing: Address = field(default_factory=Address)
    delivery: Address = field(default_factory=Address)

    @property
    def person_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)

    @property
    def name(self) -> str:
        """Company, else first + last name (R6.3, R7.3)."""
        return self.company or self.person_name

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Customer":
        data = dict(data)
        data["billing"] = Address(**data.get("billing", {}))
        data["delivery"] = Address(**data.get("delivery", {}))
        return cls(**data)
