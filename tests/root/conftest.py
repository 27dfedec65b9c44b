"""Root tier: the same core scenario as root (no user namespace)."""
import os

import pytest

os.environ.setdefault("NSPOD_NODE_LINGER", "3")


def pytest_sessionstart(session):
    if os.geteuid() != 0:
        raise pytest.UsageError("the root tier must run as root")


@pytest.fixture(autouse=True)
def _check_no_leaks(no_leaks):
    yield
