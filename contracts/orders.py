"""A lenient model of TEvo's order JSON: ids as int or string, money as exact Decimal.

TEvo's payloads grow new fields without notice, so every model keeps unknown fields
(`extra="allow"`) and nothing but the order's own `id` is required. Lenient in what it keeps,
exact in what it reads: ids, quantities and money follow `contracts.exact`, which never takes a
boolean for a number nor rounds an amount. Consumers keep the raw JSON next to what they parse.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
)

from contracts.exact import COUNT_SCHEMA, ID_SCHEMA, MONEY_SCHEMA, as_count, as_id, as_money, loads

__all__ = [
    "CANCELED_STATES",
    "CLIENT",
    "OFFICE",
    "REJECTED",
    "BodyError",
    "Brokerage",
    "Client",
    "EventRef",
    "FraudCheck",
    "Order",
    "OrderItem",
    "Party",
    "TicketGroup",
    "as_utc",
    "parse_body",
    "parse_order",
    "parse_order_item",
    "parse_timestamp",
]

# TEvo's words for an order that will not go ahead; `rejected` is the seller's refusal, which a
# sale treats as a cancel and a purchase order records as its own status.
CANCELED_STATES = frozenset({"canceled", "canceled_open", "canceled_post_acceptance"})
REJECTED = "rejected"
# buyer.type of the two kinds of buyer TEvo's rules name; TEvo itself is office 6
OFFICE, CLIENT = "Office", "Client"


class FraudCheck(StrEnum):
    """The `fraud_check_status` values TEvo documents (null aside)."""

    APPROVED = "approved"
    DECLINED = "declined"
    PENDING = "pending"


def _blank_to_none(value: Any) -> Any:
    return None if value == "" else value


# The published JSON schema (docs/asyncapi.json) says what TEvo sends, not what we keep.
def as_utc(value: datetime) -> datetime:
    """TEvo's timestamps are UTC: one without an offset must still compare with the others."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


Timestamp = Annotated[datetime, AfterValidator(as_utc)]
# Earlier than any timestamp: where an order has none, it ranks before every one that has.
EARLIEST = datetime.min.replace(tzinfo=UTC)
_TIMESTAMP: TypeAdapter[datetime] = TypeAdapter(Timestamp)


def parse_timestamp(value: object) -> datetime | None:
    """A TEvo timestamp found outside the models (e.g. in `shipments`), None when unreadable."""
    if value is None or value == "":
        return None
    try:
        return _TIMESTAMP.validate_python(value)
    except ValidationError:
        return None


TevoId = Annotated[int, BeforeValidator(as_id), WithJsonSchema(ID_SCHEMA)]
Count = Annotated[int, BeforeValidator(as_count), WithJsonSchema(COUNT_SCHEMA)]
# The published schema is spelled out so it does not change with pydantic's own rendering.
Money = Annotated[Decimal, BeforeValidator(as_money), WithJsonSchema(MONEY_SCHEMA)]
Text = Annotated[str | None, BeforeValidator(lambda v: None if v is None else str(v))]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Brokerage(_Lenient):
    """The company an Office belongs to."""

    id: TevoId | None = None
    name: Text = None
    abbreviation: Text = None


class Party(_Lenient):
    """`buyer` or `seller`: an Office (a brokerage's office; TEvo itself is office 6) or Client."""

    type: Text = None
    id: TevoId | None = None
    name: Text = None
    brokerage: Brokerage | None = None


class EmailAddress(_Lenient):
    address: Text = None


class PhoneNumber(_Lenient):
    number: Text = None


class Client(_Lenient):
    id: TevoId | None = None
    name: Text = None
    email_addresses: list[EmailAddress] = Field(default_factory=list)
    phone_numbers: list[PhoneNumber] = Field(default_factory=list)
    primary_shipping_address: dict[str, Any] | None = None
    primary_billing_address: dict[str, Any] | None = None

    @property
    def email(self) -> str | None:
        for entry in self.email_addresses:
            if entry.address and entry.address.strip():
                return entry.address.strip()
        return None

    @property
    def phone(self) -> str | None:
        for entry in self.phone_numbers:
            if entry.number and entry.number.strip():
                return entry.number.strip()
        return None


class EventRef(_Lenient):
    id: TevoId | None = None
    name: Text = None
    occurs_at: Timestamp | None = None
    venue: dict[str, Any] | None = None


class TicketGroup(_Lenient):
    id: TevoId | None = None
    remote_id: Text = None
    section: Text = None
    row: Text = None
    seats: list[Any] = Field(default_factory=list)
    event: EventRef | None = None
    # When the seller will have the tickets; `in_hand_updated` tells the buyer it moved.
    in_hand_on: Annotated[date | None, BeforeValidator(_blank_to_none)] = None


class OrderItem(_Lenient):
    id: TevoId | None = None
    order_id: TevoId | None = None
    price: Money | None = None
    quantity: Count | None = None
    ticket_group: TicketGroup | None = None
    updated_at: Timestamp | None = None


class Order(_Lenient):
    id: TevoId
    oid: Text = None
    state: Text = None
    buyer_state: Text = None
    seller_state: Text = None
    buyer: Party | None = None
    seller: Party | None = None
    client: Client | None = None
    fraud_check_status: Text = None
    items: list[OrderItem] = Field(default_factory=list)
    subtotal: Money | None = None
    service_fee: Money | None = None
    shipping: Money | None = None
    tax: Money | None = None
    additional_expense: Money | None = None
    discount: Money | None = None
    total: Money | None = None
    balance: Money | None = None
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None

    @property
    def normalized_state(self) -> str | None:
        """`state` with older data's `cancelled` spelled as today's `canceled`."""
        return None if self.state is None else self.state.replace("cancelled", "canceled")


_M = TypeVar("_M", bound=_Lenient)


class BodyError(ValueError):
    """The body is not the JSON object the contract promises; says which field and why."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field
        self.detail = detail


def parse_body(model: type[_M], body: bytes | str) -> _M:
    """`body` as `model`, raising `BodyError` naming the first field that breaks it: the one
    mapping of pydantic's errors for every body of the contract (orders, items, catalog events).
    The JSON is read by `contracts.exact.loads`, numbers kept exact."""
    try:
        parsed = loads(body)
    except ValueError as exc:  # JSONDecodeError, NaN, a body that is not UTF-8
        raise BodyError("body", f"is not JSON: {exc}") from None
    return validate(model, parsed)


def validate(model: type[_M], parsed: object) -> _M:
    """`parsed` (from `contracts.exact.loads`) as `model`; `BodyError` names the first bad field."""
    try:
        return model.model_validate(parsed)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        raise BodyError(field, first["msg"].removeprefix("Value error, ")) from None


def parse_order(body: bytes | str) -> Order:
    """Parse an order body, raising `BodyError` naming the first field that breaks the contract."""
    return parse_body(Order, body)


def parse_order_item(body: bytes | str) -> OrderItem:
    """Parse an `etickets_finalized` body: one order item, not an order."""
    return parse_body(OrderItem, body)
