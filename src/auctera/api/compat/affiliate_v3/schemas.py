"""The request bodies of seed 003, strictly typed: a string where a number is required is a 400
naming the field, and an unknown field is refused. `page`/`pageSize` (lists), `programId` and
`reasonText` (PUT /client/channels) are our extensions, documented in docs/api-v3.md."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from auctera.services.partner_programs import DEFAULT_PAGE_SIZE

_ID = Field(ge=1, lt=2**63)
_PAGE = Field(default=0, ge=0)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class FeedRequest(_Body):
    programId: int = _ID
    channelId: int = _ID
    feedId: int | None = Field(default=None, ge=1, lt=2**63)
    setEpi: bool = False
    gt: bool = False


class ProgramsRequest(_Body):
    market: str = Field(min_length=2, max_length=2)
    programId: int | None = Field(default=None, ge=1, lt=2**63)
    channelId: int | None = Field(default=None, ge=1, lt=2**63)
    approvalStatus: int | None = Field(default=None, ge=0, le=2)
    status: int | None = None
    page: int = _PAGE
    pageSize: int = DEFAULT_PAGE_SIZE


class ChannelsRequest(_Body):
    channelId: int | None = Field(default=None, ge=1, lt=2**63)
    affiliateId: int | None = Field(default=None, ge=1, lt=2**63)
    approvalStatus: int | None = Field(default=None, ge=0, le=2)
    programId: int | None = Field(default=None, ge=1, lt=2**63)
    page: int = _PAGE
    pageSize: int = DEFAULT_PAGE_SIZE


class ChannelDecision(_Body):
    channelId: int = _ID
    approvalStatus: int = Field(ge=0, le=1)
    rejectReason: int | None = Field(default=None, ge=0, le=12)
    programId: int | None = Field(default=None, ge=1, lt=2**63)
    reasonText: str | None = None
