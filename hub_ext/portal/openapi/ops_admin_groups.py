"""OpenAPI operations of the Groups console (hub admins): groups made, renamed and deleted, members and group
admins. A group's policy is changed with ``PATCH …/groups/{group}/policy`` (ops_core)."""

from __future__ import annotations

from ..admin_groups.requests import GroupCreate, GroupRename, MemberAdd, MemberChange
from .model import DENIED, INVALID, NOT_FOUND, PORTAL, Operation

BASE = f"{PORTAL}/admin/groups"
SCOPE = "admin:groups"
ADMINS = DENIED + " (hub admins only)"
ROW = ("`{name, display_name, members, admins, usage: [{resource, label, used, limit, text}], storage_quota, "
       "summary}`")
MEMBERSHIP = "`{group, members, admins}`"

OPERATIONS: tuple[Operation, ...] = (
    Operation("get", BASE, "Every group, members of it or not, with quota use and a policy summary", "groups",
              SCOPE, {200: f"`{{groups: [{ROW[1:-1]}]}}`", 403: ADMINS}),
    Operation("post", BASE, "Create a group", "groups", SCOPE,
              {201: f"The group: {ROW}", 400: INVALID, 403: ADMINS, 409: "A group by that name exists (`errors.name`)"},
              body=GroupCreate,
              description="It starts with the default policy (every instance type and image allowed, no quota "
                          "set) and no members; set its policy with `PATCH /api/portal/groups/{group}/policy`."),
    Operation("get", f"{BASE}/{{group}}", "A group, its policy and what runs in it", "groups", SCOPE,
              {200: f"{ROW[:-2]}, policy, running: [text]}}`", 403: ADMINS, 404: NOT_FOUND}),
    Operation("patch", f"{BASE}/{{group}}", "Rename a group (its display name)", "groups", SCOPE,
              {200: f"The group: {ROW}", 400: INVALID, 403: ADMINS, 404: NOT_FOUND}, body=GroupRename),
    Operation("delete", f"{BASE}/{{group}}", "Delete a group", "groups", SCOPE,
              {204: "Deleted", 403: ADMINS, 404: NOT_FOUND,
               409: "Workloads still run in it: `errors.group` names each (notebook servers, jobs, deployments, "
                    "apps)"},
              description="Refused while a notebook server, a job (Pending, Preparing or Running), a deployment "
                          "or an app of the group runs. Its files, finished jobs and stopped workloads' records "
                          "are kept."),
    Operation("post", f"{BASE}/{{group}}/members", "Add a hub user to a group (as a group admin with `admin`)",
              "groups", SCOPE,
              {200: f"{MEMBERSHIP} (a member made a group admin)", 201: f"{MEMBERSHIP} (added)",
               400: INVALID + " (or no such user)", 403: ADMINS + " (or membership comes from the identity "
               "provider)", 404: NOT_FOUND, 409: "Already a member (or, with `admin`, already a group admin)"},
              body=MemberAdd,
              description="The group the user works in does not change (unless they were in no group)."),
    Operation("patch", f"{BASE}/{{group}}/members/{{user}}", "Make a member a group admin, or not", "groups",
              SCOPE, {200: MEMBERSHIP, 400: INVALID, 403: ADMINS, 404: NOT_FOUND + " (or not a member)"},
              body=MemberChange),
    Operation("delete", f"{BASE}/{{group}}/members/{{user}}", "Remove a member from a group (and its admins)",
              "groups", SCOPE,
              {200: MEMBERSHIP, 403: ADMINS + " (or membership comes from the identity provider)",
               404: NOT_FOUND + " (or not a member)"}),
)
