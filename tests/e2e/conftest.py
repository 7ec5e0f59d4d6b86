import pytest

from sandbox import ccvshop as sandbox_shop
from sandbox import eboekhouden as sandbox_ledger
from sandbox.generator import generate
from sandbox.serve import serve
from tests.harness import LEDGER_TOKEN, SECOND_ADMINISTRATION, SHOP_KEYS, Harness


@pytest.fixture
def harness(database_url):
    h = Harness(database_url)
    yield h
    h.close()


@pytest.fixture
def two(database_url):
    """A harness whose ledger fake has a second administration (``h.second``, its client):
    the further ledger a connection's documents are replayed into."""
    h = Harness(database_url, administrations=(SECOND_ADMINISTRATION,))
    h.second = h.administration(SECOND_ADMINISTRATION)
    yield h
    h.second.close()
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


@pytest.fixture
def fakes_on_ports():
    """The shop and ledger fakes on real ports, for code that runs in another process."""
    shop_server = serve(sandbox_shop.create_app(public_key=SHOP_KEYS[0], secret=SHOP_KEYS[1],
                                                api_root=None))
    ledger_server = serve(sandbox_ledger.create_app(api_token=LEDGER_TOKEN))
    yield shop_server, ledger_server
    shop_server.stop()
    ledger_server.stop()
