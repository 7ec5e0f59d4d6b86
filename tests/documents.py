"""Documents for the page tests: one booked, one in Errors and one waiting for its payment."""

from __future__ import annotations

from sandbox.generator import generate


def one_of_each(process) -> dict:
    """``process(item)`` takes a generator order through koppel and returns its id; the
    answer maps each outcome ("posted", "failed", "open") to its document's id."""
    docs = {}
    for outcome, seed in (("posted", 31), ("failed", 32), ("open", 33)):
        item = next(i for i in generate(60, seed, failing_share=0.5,
                                        unpaid_share=0.5 if outcome == "open" else 0.0,
                                        scopes={"domestic", "icp"})
                    if i["kind"] == "order" and i["expect"]["outcome"] == outcome)
        docs[outcome] = process(item)
    return docs
