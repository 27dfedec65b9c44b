"""Integration tier: real namespaces, as an unprivileged user."""
import os

import pytest

os.environ.setdefault("NSPOD_NODE_LINGER", "3")


def pytest_sessionstart(session):
    if os.geteuid() == 0:
        raise pytest.UsageError("the integration tier must run as an unprivileged user (scripts/test does this)")


@pytest.fixture(autouse=True)
def _check_no_leaks(no_leaks):
    yield
