"""port-forward's arguments (nspod/portforward.py), as kubectl takes them."""
import pytest

from nspod.errors import BadInput
from nspod.portforward import parse_addresses, shown


def test_addresses():
    assert parse_addresses("127.0.0.1") == [("127.0.0.1", True)]
    assert parse_addresses("localhost") == [("127.0.0.1", False), ("::1", False)]  # either may fail, not both
    assert parse_addresses("0.0.0.0, ::1,localhost") == [("0.0.0.0", True), ("::1", True), ("127.0.0.1", False)]
    assert parse_addresses("0:0::1") == [("::1", True)]


@pytest.mark.parametrize("text", ["", "example.com", "127.0.0.1,", "1.2.3", "127.0.0.1:80"])
def test_bad_addresses(text):
    with pytest.raises(BadInput, match="--address: .* is not an IP address or localhost"):
        parse_addresses(text)


def test_shown():
    assert shown("127.0.0.1", 80) == "127.0.0.1:80" and shown("::1", 80) == "[::1]:80"
