from __future__ import annotations

import pytest

from store.reader import Dataset
from tests.recommender.fakes import FakeCatalog, build_dataset, fake_pricer


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory):
    return build_dataset(tmp_path_factory.mktemp("cluster") / "data")


@pytest.fixture(scope="session")
def small_allocation(small_dataset):
    from recommender.allocation import allocate

    return allocate(Dataset(small_dataset), FakeCatalog(), pricer=fake_pricer())
