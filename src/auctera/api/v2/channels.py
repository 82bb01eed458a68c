"""/v2/channels: a publisher's channels (its sites, blogs, newsletters, paid search...), which
apply to offers at /v2/network/applications. See docs/api-v2-channels.md."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response
from pydantic import Field

from auctera.api.auth import bearer_principal
from auctera.api.deps import container_of
from auctera.api.routing import IndexedRouter
from auctera.api.v2.schemas import DecimalJSONRoute, QueryInt, _Write
from auctera.domain import ids as idfmt
from auctera.domain.accounts import AccountKind, Principal, parse_account_id, render_account_id
from auctera.domain.programs import MAX_NAME, MAX_URL, Channel, ChannelType
from auctera.errors import NotFound, ValidationFailed
from auctera.services.campaigns import DEFAULT_PAGE, MAX_PAGE
from auctera.services.channels import CHANNEL_PREFIX, UNSET, ChannelFields, ChannelService

router = IndexedRouter(prefix="/v2/channels", tags=["channels"], route_class=DecimalJSONRoute)
Caller = Annotated[Principal, Depends(bearer_principal)]
_TYPES = ", ".join(t.value for t in ChannelType)


class ChannelIn(_Write):
    name: str | None = Field(default=None, max_length=MAX_NAME)
    type: str | None = Field(default=None, description=f"One of: {_TYPES} (any case)")
    url: str | None = Field(default=None, max_length=MAX_URL, description="http(s)")
    description: str | None = None
    publisher_id: str | None = Field(default=None, description="Network keys: the publisher (pub_…)")

    def fields(self) -> ChannelFields:
        def given(name: str) -> Any:
            return getattr(self, name) if self.given(name) else UNSET

        for required in ("name", "type"):  # null is no value: a PATCH cannot clear them
            if self.given(required) and getattr(self, required) is None:
                raise ValidationFailed(f"'{required}' cannot be null", field=required)
        return ChannelFields(given("name"), given("type"), given("url"), given("description"))


def _service(request: Request) -> ChannelService:
    c = container_of(request)
    return ChannelService(c.uow, c.ids, c.clock)


def publisher_param(text: str | None) -> int | None:
    if text is None:
        return None
    value = parse_account_id(text)
    if value is None:
        raise NotFound(f"publisher {text} not found", field="publisher_id")
    return value


def parse_channel_id(text: str) -> int | None:
    """None for text that is no channel id: the services answer 404 as for an unknown one."""
    return idfmt.parse(CHANNEL_PREFIX, text)


def channel_json(c: Channel) -> dict[str, Any]:
    return {
        "channel_id": idfmt.render(CHANNEL_PREFIX, c.id),
        "publisher_id": render_account_id(AccountKind.PUBLISHER, c.account_id),
        "name": c.name,
        "type": c.type.value,
        "url": c.url,
        "description": c.description,
        "created_at": c.created_at.isoformat(),
        "updated_at": c.updated_at.isoformat(),
    }


@router.get("", summary="The publisher's channels")
def list_channels(
    request: Request,
    caller: Caller,
    limit: Annotated[QueryInt, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    cursor: Annotated[str | None, Query(description="pagination.next_cursor of the previous page")] = None,
    publisher_id: Annotated[
        str | None, Query(description="Network keys: one publisher's channels (default: all)")
    ] = None,
) -> dict[str, Any]:
    page = _service(request).list_channels(caller, cursor, limit, publisher_id=publisher_param(publisher_id))
    return {
        "data": [channel_json(c) for c in page.channels],
        "pagination": {"next_cursor": page.next_cursor, "limit": limit},
    }


@router.post("", status_code=201, summary="Add a channel")
def create_channel(request: Request, body: ChannelIn, caller: Caller) -> dict[str, Any]:
    created = _service(request).create_channel(
        caller, body.fields(), publisher_id=publisher_param(body.publisher_id)
    )
    return channel_json(created)


@router.get("/{channel_id}", summary="One channel")
def get_channel(request: Request, channel_id: str, caller: Caller) -> dict[str, Any]:
    return channel_json(_service(request).get_channel(caller, parse_channel_id(channel_id)))


@router.patch("/{channel_id}", summary="Change a channel's name, type, URL or description")
def update_channel(request: Request, channel_id: str, body: ChannelIn, caller: Caller) -> dict[str, Any]:
    if body.given("publisher_id"):
        raise ValidationFailed("a channel stays with its publisher", field="publisher_id")
    return channel_json(_service(request).update_channel(caller, parse_channel_id(channel_id), body.fields()))


@router.delete("/{channel_id}", status_code=204, summary="Delete a channel and its applications")
def delete_channel(request: Request, channel_id: str, caller: Caller) -> Response:
    _service(request).delete_channel(caller, parse_channel_id(channel_id))
    return Response(status_code=204)
