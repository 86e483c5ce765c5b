from __future__ import annotations

import pytest

from store.reader import Dataset
from tests.recommender.fakes import build_dataset


@pytest.fixture(scope="session")
def catalog():
    from optimizer.catalog import Catalog

    return Catalog.load()


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory):
    return build_dataset(tmp_path_factory.mktemp("cluster") / "data")


@pytest.fixture(scope="session")
def small_allocation(small_dataset, catalog):
    from recommender.allocation import allocate

    return allocate(Dataset(small_dataset), catalog)
