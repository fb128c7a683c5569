"""Outbound guard (SSRF): app.netguard.refusal over the configured networks."""

import ipaddress

import pytest

from actors.netguard import refusal
from app.config import DEFAULT_DENY_NETWORKS, load_config


@pytest.fixture(scope="module")
def defaults():
    """(allow, deny) as an unconfigured server has them."""
    config = load_config(environ={})
    return config.http_allow_networks, config.http_deny_networks


def _networks(*texts):
    return tuple(ipaddress.ip_network(text) for text in texts)


def test_the_default_deny_list_is_the_documented_one(defaults):
    allow, deny = defaults
    assert allow == ()
    assert deny == _networks(*DEFAULT_DENY_NETWORKS.split(","))
    assert {str(network) for network in deny} >= {
        "169.254.0.0/16",
        "fe80::/10",
        "fd00:ec2::254/128",
        "100.100.100.200/32",
    }


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("169.254.169.254", "169.254.0.0/16"),
        ("169.254.0.1", "169.254.0.0/16"),
        ("fe80::1", "fe80::/10"),
        ("fd00:ec2::254", "fd00:ec2::254/128"),
        ("::ffff:169.254.169.254", "169.254.0.0/16"),
        ("100.100.100.200", "100.100.100.200/32"),
        ("0.0.0.0", "0.0.0.0/8"),
    ],
    ids=[
        "aws-metadata",
        "link-local",
        "ipv6-link-local",
        "aws-ipv6",
        "ipv4-mapped",
        "alibaba",
        "zero",
    ],
)
def test_metadata_and_link_local_addresses_are_refused_by_default(defaults, address, network):
    reason = refusal(address, *defaults)
    assert reason is not None
    assert "denied" in reason
    assert network in reason


def test_an_ipv4_mapped_address_is_refused_as_the_ipv4_address_it_is(defaults):
    assert refusal("::ffff:169.254.169.254", *defaults) == (
        "169.254.169.254 is in the denied network 169.254.0.0/16"
    )


def test_a_link_local_address_with_a_zone_is_refused(defaults):
    assert refusal("fe80::1%eth0", *defaults) is not None


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "192.168.1.10", "93.184.216.34", "::1", "2606:4700::1111"],
)
def test_ordinary_addresses_are_allowed_by_default(defaults, address):
    assert refusal(address, *defaults) is None


def test_the_neighbours_of_the_alibaba_address_are_allowed(defaults):
    assert refusal("100.100.100.199", *defaults) is None
    assert refusal("100.100.100.201", *defaults) is None


def test_with_allow_networks_an_address_outside_them_is_refused_saying_why(defaults):
    _, deny = defaults
    reason = refusal("127.0.0.1", _networks("10.0.0.0/8"), deny)
    assert reason == "127.0.0.1 is outside the allowed networks"


def test_with_allow_networks_an_address_inside_them_is_allowed(defaults):
    _, deny = defaults
    assert refusal("10.1.2.3", _networks("10.0.0.0/8"), deny) is None


def test_with_allow_networks_an_ipv4_mapped_address_is_judged_as_ipv4(defaults):
    _, deny = defaults
    allow = _networks("10.0.0.0/8")
    assert refusal("::ffff:10.1.2.3", allow, deny) is None
    assert refusal("::ffff:127.0.0.1", allow, deny) is not None


def test_with_only_ipv4_allow_networks_an_ipv6_address_is_refused(defaults):
    _, deny = defaults
    assert refusal("::1", _networks("10.0.0.0/8"), deny) is not None


def test_deny_wins_over_allow():
    reason = refusal(
        "169.254.169.254", _networks("169.254.0.0/16"), _networks("169.254.169.254/32")
    )
    assert reason == "169.254.169.254 is in the denied network 169.254.169.254/32"


def test_networks_configured_through_the_environment_are_applied():
    config = load_config(
        environ={
            "SCHEDULER_HTTP_ALLOW_NETWORKS": "10.0.0.0/8, fd12::/16",
            "SCHEDULER_HTTP_DENY_NETWORKS": "10.9.0.0/16",
        }
    )
    allow, deny = config.http_allow_networks, config.http_deny_networks
    assert refusal("10.1.2.3", allow, deny) is None
    assert refusal("fd12::5", allow, deny) is None
    assert "denied" in refusal("10.9.1.1", allow, deny)
    assert "outside" in refusal("127.0.0.1", allow, deny)
    # The deny list was replaced, not extended: 169.254/16 is now refused by allow only.
    assert "outside" in refusal("169.254.169.254", allow, deny)
