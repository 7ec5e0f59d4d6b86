import pytest

from sandbox.generator import generate
from tests.harness import Harness


@pytest.fixture
def harness(database_url):
    h = Harness(database_url)
    yield h
    h.close()


@pytest.fixture
def paid_domestic_orders():
    """Domestic orders the demo settings post (the generator's own expectation says so)."""
    def make(count: int, seed: int = 7) -> list[dict]:
        docs = generate(count * 3, seed, failing_share=0.0, unpaid_share=0.0,
                        scopes={"domestic"})
        docs = [d for d in docs if d["kind"] == "order" and d["expect"]["outcome"] == "posted"]
        assert len(docs) >= count
        return docs[:count]
    return make
