import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
ROOT = TESTS.parent
TEST_DATA = TESTS / "data"  # slices of real datasets, see tests/data/README.md
sys.path.insert(0, str(TESTS))

import canned  # noqa: E402,F401  (registers spacy_distill_test.Canned.v1)


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def test_data() -> Path:
    """Small slices of real datasets in their original formats (tests/data/*/SOURCE.md)."""
    return TEST_DATA


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray cluster on the machine's 2 cores, for the tests of a module (Ray is the `ray` extra)."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()
