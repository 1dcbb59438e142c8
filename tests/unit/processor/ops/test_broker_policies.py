"""Where `migrate` finds the management API (failures: tests/integration/test_broker_policies)."""

from __future__ import annotations

from processor.ops.broker_policies import ManagementApi


def test_derived_from_the_amqp_url_port_15672_same_credentials() -> None:
    api = ManagementApi.of("amqp://tevo:s%40cret@rabbitmq:5672/staging")
    assert api == ManagementApi("http://rabbitmq:15672/api", "tevo", "s@cret")
    assert ManagementApi.of("amqps://u:p@mq.example.com/").base.startswith("https://")


def test_an_explicit_url_wins_and_brings_its_own_credentials_or_not() -> None:
    own = ManagementApi.of("amqp://u:p@mq/", "https://admin:pw@console.example.com:8443/api/")
    assert own == ManagementApi("https://console.example.com:8443/api", "admin", "pw")
    borrowed = ManagementApi.of("amqp://u:p@mq/", "http://console:15672")
    assert borrowed == ManagementApi("http://console:15672/api", "u", "p")
