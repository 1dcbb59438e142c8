"""ingress/openapi.json is valid OpenAPI 3.1 and in step with the code: routes, statuses, limits."""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

import pytest
from openapi_spec_validator import validate

from contracts import EVENT_TYPE_PATTERN, Recipient
from ingress.app import create_app
from ingress.errors import Refused
from ingress.form import (
    FIELDS,
    MAX_FIELD_NAME_LENGTH,
    MAX_ID_DIGITS,
    MAX_JSON_DEPTH,
    MAX_NUMBER_LENGTH,
)
from ingress.settings import IngressSettings
from tests.unit.ingress.conftest import FakePublisher, MakeClient, make_settings

WEBHOOK = "/webhooks/tevo/{token}"


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(files("ingress").joinpath("openapi.json").read_text())
    return loaded


def _default(name: str) -> Any:
    return IngressSettings.model_fields[name].default


def test_it_is_valid_openapi_3_1(doc: dict[str, Any]) -> None:
    assert doc["openapi"].startswith("3.1.")
    validate(doc)


def test_every_route_is_documented_and_every_documented_route_exists(doc: dict[str, Any]) -> None:
    app = create_app(make_settings(), publisher=FakePublisher())
    served = {
        (route.resource.canonical, route.method.lower())
        for route in app.router.routes()
        if route.resource is not None and route.method != "HEAD"  # aiohttp adds HEAD to GETs
    }
    documented = {(path, method) for path, item in doc["paths"].items() for method in item}
    assert served == documented


def test_the_webhook_documents_exactly_the_statuses_it_can_answer(doc: dict[str, Any]) -> None:
    refusals = {str(cls.status) for cls in Refused.__subclasses__()}
    responses = doc["paths"][WEBHOOK]["post"]["responses"]
    assert set(responses) == refusals | {"202", "503"}
    assert "Retry-After" in responses["503"]["headers"]


async def test_the_get_routes_answer_what_they_document(
    doc: dict[str, Any], make_client: MakeClient, publisher: FakePublisher
) -> None:
    client = await make_client()
    seen: dict[str, set[str]] = {path: set() for path in doc["paths"] if path != WEBHOOK}
    for ready in (True, False):
        publisher.closed = not ready  # the fake's `ready` follows it
        for path, statuses in seen.items():
            statuses.add(str((await client.get(path)).status))
    assert seen == {path: set(doc["paths"][path]["get"]["responses"]) for path in seen}


async def test_the_served_document_is_the_committed_one(
    doc: dict[str, Any], make_client: MakeClient
) -> None:
    client = await make_client()
    response = await client.get("/openapi.json")
    assert response.content_type == "application/json"
    assert await response.json() == doc


def test_the_form_fields_are_the_parsers(doc: dict[str, Any]) -> None:
    schema = doc["components"]["schemas"]["WebhookForm"]
    properties = schema["properties"]
    assert set(properties) == set(FIELDS)
    assert set(schema["required"]) <= set(FIELDS)
    assert properties["event_type"]["pattern"] == f"^{EVENT_TYPE_PATTERN.pattern}$"
    assert properties["recipient"]["enum"] == [r.value for r in Recipient]
    for name in ("order_group_id", "event_id"):
        assert properties[name]["pattern"] == f"^[0-9]{{1,{MAX_ID_DIGITS}}}$"


def test_the_limits_are_the_defaults(doc: dict[str, Any]) -> None:
    body = doc["paths"][WEBHOOK]["post"]["requestBody"]
    assert body["x-max-body-bytes"] == _default("max_body_bytes")
    assert body["x-body-timeout-seconds"] == _default("body_timeout")
    assert body["x-idle-timeout-seconds"] == _default("idle_timeout")
    schema = doc["components"]["schemas"]["WebhookForm"]
    assert schema["maxProperties"] == _default("max_form_fields")
    assert schema["propertyNames"]["maxLength"] == MAX_FIELD_NAME_LENGTH
    assert schema["properties"]["body"]["x-max-json-depth"] == MAX_JSON_DEPTH
    assert schema["properties"]["body"]["x-max-number-length"] == MAX_NUMBER_LENGTH


def test_the_error_schema_is_what_refusals_answer(doc: dict[str, Any]) -> None:
    error = doc["components"]["schemas"]["Error"]
    keys = set(Refused.__subclasses__()[0](None, "x").as_json())
    assert set(error["properties"]) == set(error["required"]) == keys
