"""Kubernetes naming rules. Each check returns None when the value is fine,
else the message to report (without the field path)."""

import ipaddress
import re

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_LABEL = re.compile(_LABEL)
_DNS_SUBDOMAIN = re.compile(rf"{_LABEL}(\.{_LABEL})*")
_QUALIFIED_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")
_SVC_NAME = re.compile(r"[-a-z0-9]+")


def dns_label(value):
    """Container, volume and namespace names, hostnames (RFC 1123 label)."""
    if len(value) > 63 or not _DNS_LABEL.fullmatch(value):
        return (
            f'"{value}" is not a valid DNS-1123 label: at most 63 characters, lowercase '
            "letters, digits and '-', starting and ending with a letter or digit"
        )
    return None


def dns_subdomain(value):
    """Pod names (RFC 1123 subdomain: labels joined by '.')."""
    if len(value) > 253 or not _DNS_SUBDOMAIN.fullmatch(value):
        return (
            f'"{value}" is not a valid DNS-1123 subdomain: at most 253 characters, lowercase '
            "letters, digits, '-' and '.', starting and ending with a letter or digit"
        )
    return None


def qualified_name(value):
    """Label and annotation keys: an optional DNS-subdomain prefix and '/',
    then a name of at most 63 characters ("app.kubernetes.io/name")."""
    prefix, slash, name = value.rpartition("/")
    bad = f'"{value}" is not a valid key'
    if slash and (not prefix or "/" in prefix or dns_subdomain(prefix)):
        return f"{bad}: the part before '/' must be a DNS-1123 subdomain"
    if len(name) > 63 or not _QUALIFIED_NAME.fullmatch(name):
        return (
            f"{bad}: the name must be at most 63 characters of letters, digits, '-', '_' "
            "and '.', starting and ending with a letter or digit"
        )
    return None


def label_value(value):
    if len(value) > 63 or (value and not _QUALIFIED_NAME.fullmatch(value)):
        return (
            f'"{value}" is not a valid label value: empty, or at most 63 characters of '
            "letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
        )
    return None


def port_name(value):
    """Port names follow IANA service names: "http", "metrics-2"."""
    if (
        len(value) > 15
        or not _SVC_NAME.fullmatch(value)
        or not re.search("[a-z]", value)
        or value.startswith("-")
        or value.endswith("-")
        or "--" in value
    ):
        return (
            f'"{value}" is not a valid port name: at most 15 lowercase letters, digits and '
            "'-', with at least one letter and no '-' at either end or twice in a row"
        )
    return None


def env_name(value):
    if not _ENV_NAME.fullmatch(value):
        return (
            f'"{value}" is not a valid environment variable name: letters, digits, '
            "'_', '-' and '.', not starting with a digit"
        )
    return None


def ip_address(value):
    """An IPv4 or IPv6 address, as Kubernetes writes them ("10.1.2.3", "fd00::1")."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return f'"{value}" is not a valid IP address'
    return None
