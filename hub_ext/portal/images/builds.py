"""Image builds: REST ``/hub/api/portal/groups/{group}/images/{image}/builds[/{number}[/cancel|/rebuild|/log]]``.

Members (and hub admins) read a group's builds and their logs; the group's admins and hub admins ask
for, cancel and rebuild them. Another group's builds are 404. Asking for a build of an image the
group does not have creates the group image (shown "building — not yet available" until a build
succeeds). The logic is in :mod:`hub_ext.images.builds`; the runner's builder carries builds out.
"""

from __future__ import annotations

import re

from jupyterhub.scopes import needs_scope
from tornado import web

from ... import activity
from ...bodies import BodyError, NoFields
from ...groups import group_policy
from ...images import builds as builds_mod
from ...images.group import NAME_PATTERN, NameTaken
from ...images.resolve import resolved_policy
from ...images.settings import ImageBuilds
from ...jobs import logs as logs_mod
from ...scopes import READ, WRITE
from ...store.models_images import BUILD_DONE, ImageBuild
from ..groups.handlers import store_policy
from ..common.logstream import LogAPI
from .common import KIND, _ImagesAPI


class _BuildsAPI(_ImagesAPI):
    def build_of(self, group, image: str, number: str) -> ImageBuild:
        n = self.parse_id(number, "number", ImageBuild.number, status=404)
        build = builds_mod.get(self.db_url, group.name, image, n)
        if build is None:
            raise web.HTTPError(404, f"No build #{number} of image {image} in group {group.name}")
        return build

    def admin_build(self, group_name: str, image: str, number: str, model):
        """The group and build a group admin acts on (the body checked by ``model``: refused with 400)."""
        group = self.admin_group(group_name)
        build = self.build_of(group, image, number)
        self.body(model)
        return group, build

    def record(self, group, action: str, build: ImageBuild, message: str) -> None:
        activity.record(self.db_url, username=self.current_user.name, group=group.name, kind=KIND, action=action,
                        status="info", message=message, workload_id=f"{build.image}#{build.number}",
                        link=f"{self.hub.base_url}portal/images?image={build.image}&build={build.number}")

    def answer(self, build: ImageBuild, status: int = 200) -> None:
        self.set_status(status)
        self.write_json(builds_mod.build_json(build, builds_mod.queue_positions(self.db_url)))


class BuildsAPIHandler(_BuildsAPI):
    """GET (members): an image's builds, newest first. POST (group admins): ask for a build."""

    @needs_scope(READ)
    def get(self, group_name, image):
        group = self.visible_group(group_name)
        positions = builds_mod.queue_positions(self.db_url)
        self.write_json({"group": group.name, "image": image, "builds": [
            builds_mod.build_json(b, positions) for b in builds_mod.builds_of(self.db_url, group.name, image)]})

    @needs_scope(WRITE)
    def post(self, group_name, image):
        group = self.admin_group(group_name)
        if not re.match(NAME_PATTERN, image):
            self.field_error({"image": f"{image[:64]!r} is not an image name (lower case letters, digits "
                                              "and '-', at most 63)"})
        body = self.body(builds_mod.BuildCreate)
        policy = group_policy(group)
        try:
            changed = builds_mod.with_entry(policy, self.catalog, image, body)
            result, ref, source = builds_mod.plan(
                resolved_policy(policy, group.name, self.db_url), self.catalog, group.name, image, body,
                embedded=self.embedded, push_registry=ImageBuilds.instance(config=self.hubfront.config).push_registry)
        except NameTaken as exc:
            self.field_error({"image": str(exc)}, 409)
        except BodyError as exc:
            self.field_error(exc.errors)
        if changed is not None:
            store_policy(self, group, changed)
        build = builds_mod.create(self.db_url, group=group.name, image=image, username=self.current_user.name,
                                  base=body.base, packages=body.packages.model_dump(), result=result, ref=ref,
                                  source=source)
        self.record(group, "build requested", build, f"Build #{build.number} of image {image} (group {group.name}) "
                                                     f"requested: {body.base} + {_summary(body.packages.model_dump())}")
        self.answer(build, 201)


class BuildAPIHandler(_BuildsAPI):
    """GET (members): one build."""

    @needs_scope(READ)
    def get(self, group_name, image, number):
        group = self.visible_group(group_name)
        self.answer(self.build_of(group, image, number))


class BuildCancelHandler(_BuildsAPI):
    """POST (group admins): cancel a Pending or Building build (409 when it already ended)."""

    @needs_scope(WRITE)
    def post(self, group_name, image, number):
        group, build = self.admin_build(group_name, image, number, NoFields)
        if build.phase in BUILD_DONE:
            self.field_error({"number": f"build #{build.number} already ended ({build.phase})"}, 409)
        build = builds_mod.cancel(self.db_url, build)
        self.record(group, "build cancelled", build, f"Build #{build.number} of image {image} cancelled")
        self.answer(build, 202)


class BuildRebuildHandler(_BuildsAPI):
    """POST (group admins): the same base and packages again, as the image's next build."""

    @needs_scope(WRITE)
    def post(self, group_name, image, number):
        group, build = self.admin_build(group_name, image, number, NoFields)
        again = builds_mod.rebuild(self.db_url, build, self.current_user.name)
        self.record(group, "build requested", again, f"Build #{again.number} of image {image} requested "
                                                     f"(a rebuild of #{build.number})")
        self.answer(again, 201)


class BuildLogHandler(LogAPI, _BuildsAPI):
    """GET (members): a build's output (``LogAPI``); followed until the build ends."""

    owner = logs_mod.BUILDS

    def log_of(self, group_name, image, number):
        group = self.visible_group(group_name)
        build = self.build_of(group, image, number)

        def ended(offset: int) -> bool:
            current = builds_mod.get(self.db_url, group.name, image, build.number)
            return current is None or (current.phase in BUILD_DONE and offset >= current.log_size)

        return build.id, f"build-{build.image}-{build.number}.log", ended


def _summary(packages: dict) -> str:
    parts = [f"{m}: {', '.join(specs)}" for m, specs in packages.items() if specs]
    return "; ".join(parts) or "nothing"


_BASE = r"/api/portal/groups/([^/]+)/images/([^/]+)/builds"
handlers = [
    (_BASE, BuildsAPIHandler),
    (_BASE + r"/([^/]+)", BuildAPIHandler),
    (_BASE + r"/([^/]+)/cancel", BuildCancelHandler),
    (_BASE + r"/([^/]+)/rebuild", BuildRebuildHandler),
    (_BASE + r"/([^/]+)/log", BuildLogHandler),
]
