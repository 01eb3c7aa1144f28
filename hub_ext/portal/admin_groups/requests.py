"""Request bodies of the Groups console's API (the same models the OpenAPI document describes)."""

from __future__ import annotations

from pydantic import Field, field_validator

from ...bodies import Strict
from ...groups import GROUP_NAME, GROUP_NAME_RULE


def _display_name(value: str) -> str:
    if len(value) > 128:
        raise ValueError(f"at most 128 characters (this one has {len(value)})")
    return value.strip()


class GroupCreate(Strict):
    """``POST /api/portal/admin/groups``: a new group, holding the default policy (every instance type and
    image allowed, no quota set) until its policy is saved; it has no members yet."""

    name: str = Field(description="The group's name: " + GROUP_NAME_RULE, examples=["vision-lab"],
                      json_schema_extra={"pattern": GROUP_NAME.pattern})
    display_name: str = Field(default="", description="What people read (at most 128 characters)",
                              examples=["Vision Lab"], json_schema_extra={"maxLength": 128})

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not GROUP_NAME.match(value):
            raise ValueError(GROUP_NAME_RULE)
        return value

    @field_validator("display_name")
    @classmethod
    def _display(cls, value: str) -> str:
        return _display_name(value)


class GroupRename(Strict):
    """``PATCH /api/portal/admin/groups/{group}``: a new display name (empty: the group's name is shown)."""

    display_name: str = Field(description="What people read (at most 128 characters)", examples=["Vision Lab"],
                              json_schema_extra={"maxLength": 128})

    @field_validator("display_name")
    @classmethod
    def _display(cls, value: str) -> str:
        return _display_name(value)


class MemberAdd(Strict):
    """``POST /api/portal/admin/groups/{group}/members``: add a hub user, as a member or a group admin."""

    user: str = Field(min_length=1, max_length=255, description="An existing hub user's name")
    admin: bool = Field(default=False, description="Also one of the group's admins")


class MemberChange(Strict):
    """``PATCH /api/portal/admin/groups/{group}/members/{user}``: make a member a group admin, or not."""

    admin: bool = Field(description="Whether the member is one of the group's admins")
