"""An ``eks`` stack stops before any resource when its Kubernetes version would be billed at
the extended-support price (or its price is unknown), on fixed dates."""

from __future__ import annotations

from datetime import date

import pytest

from components.eks.checks import END_OF_STANDARD_SUPPORT, check_eks_version
from components.settings.errors import ConfigError
from components.settings.model import Settings
from components.stack import checked_settings
from tests.support.shop_graphs import shop_eks_config

DEFAULT = Settings.model_fields["eks_version"].default
# The day the issue was filed: 1.34's end of standard support (AWS bills from that day on).
FILED = date(2026, 12, 2)


def test_the_default_version_is_in_standard_support():
    check_eks_version(DEFAULT, FILED)
    # The default is the newest version the table knows, so it lasts the longest.
    assert END_OF_STANDARD_SUPPORT[DEFAULT] == max(END_OF_STANDARD_SUPPORT.values())


def test_the_end_date_itself_is_already_extended_support():
    check_eks_version("1.34", date(2026, 12, 1))
    with pytest.raises(ConfigError) as raised:
        check_eks_version("1.34", FILED)
    assert str(raised.value) == (
        "mesh-visibility:eksVersion: 1.34 left EKS standard support on 2026-12-02: a cluster "
        "on it pays extended support, $0.60/h instead of $0.10/h (about $438 instead of $73 a "
        "month); a deployed cluster upgrades one minor version at a time: set 1.35 next (a new "
        "stack: choose 1.35 or 1.36)"
    )


@pytest.mark.parametrize(
    "version", [v for v, end in END_OF_STANDARD_SUPPORT.items() if end <= FILED]
)
def test_a_version_past_support_is_told_the_next_minor_version(version):
    """EKS upgrades a cluster one minor version at a time: the suggestion for a deployed
    cluster is the version after its own, never a jump to the newest."""
    following = f"1.{int(version.split('.')[1]) + 1}"
    with pytest.raises(ConfigError) as raised:
        check_eks_version(version, FILED)
    assert f"set {following} next" in str(raised.value)


@pytest.mark.parametrize("version", ["1.37", "1.36.1", "v1.36", ""])
def test_an_unknown_version_is_refused_with_the_known_ones(version):
    with pytest.raises(
        ConfigError,
        match=rf"eksVersion: {version!r} has no known end of EKS "
        r"standard support \(known: 1\.29, .*1\.36\); "
        r"choose 1\.35 or 1\.36$",
    ):
        check_eks_version(version, FILED)


def test_once_every_known_version_is_past_the_table_asks_for_new_dates():
    with pytest.raises(
        ConfigError,
        match=r"no version known here is still in standard "
        r"support: add the current ones",
    ):
        check_eks_version(DEFAULT, END_OF_STANDARD_SUPPORT[DEFAULT])


def test_the_stack_stops_on_it_before_any_resource():
    """checked_settings is what the program and the command line load every stack through."""
    config = shop_eks_config(eksVersion="1.34")
    with pytest.raises(
        ConfigError,
        match=r"^mesh-visibility:eksVersion: 1\.34 left EKS "
        r"standard support on 2026-12-02",
    ):
        checked_settings(config, today=FILED)
    assert checked_settings(config, today=date(2026, 12, 1)).eks_version == "1.34"
    # An ecs stack has no cluster: its (unused) eksVersion is not checked.
    ecs = checked_settings({**config, "mesh-visibility:topology": "ecs"}, today=FILED)
    assert ecs.topology == "ecs"


@pytest.mark.parametrize(
    "cidrs, message",
    [
        ([], "mesh-visibility:apiAccessCidrs: empty: list at least the address"),
        (
            ["203.0.113.7/24"],
            "mesh-visibility:apiAccessCidrs[0]: '203.0.113.7/24' is not an IPv4 network address",
        ),
        (
            ["0.0.0.0/0", "2001:db8::/32"],
            "mesh-visibility:apiAccessCidrs[1]: '2001:db8::/32' is IPv6",
        ),
    ],
)
def test_api_access_cidrs_are_ipv4_network_addresses(cidrs, message):
    """What EKS's publicAccessCidrs takes; an empty list would shut `pulumi up` out."""
    with pytest.raises(ConfigError) as raised:
        checked_settings(shop_eks_config(apiAccessCidrs=cidrs), today=date(2026, 12, 1))
    assert str(raised.value).startswith(message)
    config = shop_eks_config(apiAccessCidrs='["203.0.113.7/32"]')
    settings = checked_settings(config, today=date(2026, 12, 1))
    assert settings.api_access_cidrs == ("203.0.113.7/32",)
