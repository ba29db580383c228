"""The lines `meshvis dns` prints (tests/local/test_dns_command.py: its one error line without a
run; tests/local/test_dashboard_pictures_run.py asks a real run's DNS server)."""

from __future__ import annotations

from components.stack import stack_settings
from meshvis.local.dns_lookup import answer_line, lookup_names


def test_a_service_is_asked_by_its_deployed_name_and_any_other_name_as_given():
    settings = stack_settings("dev")
    assert lookup_names(settings, ["greeter", "example.org."]) == [
        "greeter.internal",
        "example.org",
    ]
    assert lookup_names(settings, []) == [
        "greeter.internal",
        "greeting.internal",
        "name.internal",
    ]


def test_each_address_is_named_by_its_replica_in_address_order():
    instances = {"127.1.1.10": "greeter-2", "127.1.1.9": "greeter-1"}
    assert answer_line("greeter.internal", ["127.1.1.10", "127.1.1.9"], instances) == (
        "greeter.internal: 127.1.1.9 (greeter-1), 127.1.1.10 (greeter-2)"
    )
    assert answer_line("x", [], instances) == "x: no address (NXDOMAIN or no healthy replica)"
