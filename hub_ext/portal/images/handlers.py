"""Group images: REST ``/hub/api/portal/groups/{group}/images[/{image}]`` and the Images page.

Members (and hub admins) list a group's images; the group's admins and hub admins add,
change and remove them. They live in the group's policy (``group_images``), stored like any
policy change, so the spawn form, job form and deployments of that group offer them at once.
"""

from __future__ import annotations

import sys

from jupyterhub.scopes import needs_scope
from tornado import web

from ...bodies import BodyError
from ...groups import group_policy
from ...images.group import (
    ImageCreate, ImagePatch, NameTaken, group_image, image_json, with_added, with_changed, without,
)
from ...images import builds as builds_mod
from ...images.resolve import usable_policy
from ...images.specs import MANAGERS, embedded_mode
from ..jobs.pages import PHASE_BADGES
from ..preferences.prefs import user_zone
from ..common.base import PortalHandler
from ..nav import MenuEntry, register_menu
from ...scopes import READ, WRITE
from .builds import handlers as build_handlers
from .common import _ImagesAPI

BUILD_BADGES = {**PHASE_BADGES, "Building": PHASE_BADGES["Running"]}  # static/images.js reads them from the page


def local_environment(image) -> str:
    """What runs for ``image`` on this machine (the embedded default): its interpreter, and the packages
    installed into an environment of its own when it is first used (hub_ext.images.environments)."""
    if image.local.python:
        python = image.local.python
    else:
        python = f"Python {sys.version_info.major}.{sys.version_info.minor} (the hub's own)"
    return f"{python} + {', '.join(image.local.packages)}" if image.local.packages else python


def images_of(group, catalog, db_url: str) -> list[dict]:
    """The images the group may use: its own first (built ones as their version in use), then the catalog's
    it is allowed."""
    policy = usable_policy(group, db_url)
    own = {im.name for im in policy.group_images}
    return ([image_json(im, "group") for im in policy.group_images]
            + [image_json(im, "catalog") for im in policy.allowed_images(catalog) if im.name not in own])


class GroupImagesAPIHandler(_ImagesAPI):
    """GET (members: the group's images and the catalog's it may use), POST (group admins: add one)."""

    @needs_scope(READ)
    def get(self, group_name):
        group = self.visible_group(group_name)
        self.write_json({"group": group.name, "embedded": self.embedded,
                         "images": images_of(group, self.catalog, self.db_url)})

    @needs_scope(WRITE)
    def post(self, group_name):
        group = self.admin_group(group_name)
        body = self.body(ImageCreate)
        try:
            policy, image = with_added(group_policy(group), self.catalog, body, self.embedded)
        except NameTaken as exc:
            self.field_error({"name": str(exc)}, 409)
        except BodyError as exc:
            self.field_error(exc.errors)
        self.save(group, policy, "added", image.name, f"Image {image.name} added to group {group.name}")
        self.set_status(201)
        self.write_json(image_json(image, "group"))


class GroupImageAPIHandler(_ImagesAPI):
    """GET (members), PATCH and DELETE (group admins): one of the group's own images."""

    @needs_scope(READ)
    def get(self, group_name, name):
        group = self.visible_group(group_name)
        self.image_of(group, name)
        self.write_json(image_json(group_image(usable_policy(group, self.db_url), name), "group"))

    @needs_scope(WRITE)
    def patch(self, group_name, name):
        group = self.admin_group(group_name)
        self.image_of(group, name)
        body = self.body(ImagePatch)
        try:
            policy, image = with_changed(group_policy(group), name, body, self.embedded)
        except BodyError as exc:
            self.field_error(exc.errors)
        self.save(group, policy, "changed", name, f"Image {name} of group {group.name} changed")
        self.write_json(image_json(image, "group"))

    @needs_scope(WRITE)
    def delete(self, group_name, name):
        group = self.admin_group(group_name)
        self.image_of(group, name)
        self.save(group, without(group_policy(group), name), "deleted", name,
                  f"Image {name} removed from group {group.name}")
        builds_mod.forget(self.db_url, group.name, name)
        self.set_status(204)
        self.finish()


class ImagesPageHandler(PortalHandler):
    """GET /hub/portal/images: the current group's images and the catalog's, with an Add form (its admins)."""

    @web.authenticated
    async def get(self):
        group = self.current_group()
        self.require_group_admin(group)
        images = images_of(group, self.catalog, self.db_url)
        embedded = embedded_mode(self.hubfront.config)  # hub_ext.mode: what an image is here
        if embedded:  # what actually runs here is a local environment, not the container images
            policy = usable_policy(group, self.db_url)
            local = {im.name: local_environment(im) for im in [*policy.allowed_images(self.catalog),
                                                                *policy.group_images]}
            images = [{**im, "runs_here": local.get(im["name"], "")} for im in images]
        positions = builds_mod.queue_positions(self.db_url)
        builds = [builds_mod.build_json(b, positions) for b in builds_mod.builds_of(self.db_url, group.name)]
        await self.render_portal("portal/images.html", group=group.name, images=images,
                                 embedded=embedded, managers=MANAGERS, builds=builds,
                                 bases=[im for im in images if not im["unavailable"]], badges=BUILD_BADGES,
                                 zone=user_zone(self.db_url, self.current_user.name).key,
                                 api=f"{self.hub.base_url}api/portal/groups/{group.name}/images")


register_menu(MenuEntry("Images", "portal/images", "fa-layer-group", group_admin=True))

handlers = [*build_handlers,
    (r"/api/portal/groups/([^/]+)/images", GroupImagesAPIHandler),
    (r"/api/portal/groups/([^/]+)/images/([^/]+)", GroupImageAPIHandler),
    (r"/portal/images", ImagesPageHandler),
]
