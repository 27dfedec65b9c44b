"""Fixtures shared by the tiers that run real pods."""
import pytest

from podtest import Pods, wait_for_clean


@pytest.fixture
def pods(tmp_path):
    tmp_path.chmod(0o755)
    p = Pods(tmp_path)
    yield p
    p.remove_all()


@pytest.fixture
def no_leaks():
    """Fails the test if it left any pod process, mount or state behind."""
    yield
    problems = wait_for_clean()
    assert not problems, "left behind: " + "; ".join(problems)
