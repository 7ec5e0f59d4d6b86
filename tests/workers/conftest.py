from __future__ import annotations

import pytest

from projections.store import ReadStore


@pytest.fixture
def store(database_url):
    """The read store the workers' tables live in, on each database."""
    store = ReadStore(database_url)
    yield store
    store.close()
