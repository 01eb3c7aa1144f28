"""Request bodies of the folders API (validated by :mod:`hub_ext.bodies`; also the OpenAPI schemas)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from ..bodies import Strict
from .disk import FOLDER_NAME, FOLDER_RULE

Permission = Literal["ro", "rw", "rwd"]


class FolderCreate(Strict):
    name: str = Field(description=f"The folder's name: {FOLDER_RULE}", examples=["papers"])

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not FOLDER_NAME.match(value):
            raise ValueError(FOLDER_RULE)
        return value


class InvitationCreate(Strict):
    invitee: str = Field(min_length=1, max_length=255, description="The hub user to share the folder with")
    permission: Permission = Field("ro", description="`ro` read-only, `rw` read-write (no deleting others' "
                                                     "files), `rwd` read-write-delete")


class PermissionChange(Strict):
    permission: Permission
