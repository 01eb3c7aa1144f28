"""Image builds: what a request fixes (result, content-addressed ref), the store (numbers, cancel,
rebuild, queue places), the resolver (a built image is its newest Succeeded build), and the runner's
builder (creation order, the concurrency limit, cancel, failure with the log's tail, restart),
with a recorded executor and with the real embedded one (venv + pip, offline)."""

import asyncio
import json

import pytest

from support import build_tiny_wheel

from hub_ext.bodies import BodyError, parse_body
from hub_ext.images import builds
from hub_ext.images.resolve import resolved_policies, resolved_policy
from hub_ext.jobs import logs as logs_mod
from hub_ext.policy import Catalog, GroupPolicy, Image
from hub_ext.services.builder import Builder
from hub_ext.store import session_scope
from hub_ext.services.executors.base import BuildExecutor, Handle, Status
from hub_ext.services.executors.local_builds import LocalBuilds
from hub_ext.images.environments import EnvironmentBuilder

CATALOG = Catalog.model_validate({"images": [
    {"name": "python", "image": "quay.io/jupyter/base-notebook:2024-05-27", "local": {"packages": []}},
    {"name": "sci", "image": "quay.io/jupyter/scipy-notebook:2024-05-27", "local": {"packages": ["numpy"]}},
]})


def body(**values):
    return parse_body(builds.BuildCreate, {"base": "sci", "packages": {"pip": ["cowsay==6.1"]}, **values})


def plan(policy=None, embedded=True, registry="registry.example.org/hub", **values):
    return builds.plan(policy or GroupPolicy(), CATALOG, "research", "cows", body(**values), embedded=embedded,
                       push_registry=registry)


def request(url, image="cows", group="research", pip=("cowsay==6.1",), base="sci"):
    b = body(base=base, packages={"pip": list(pip)})
    result, ref, source = builds.plan(GroupPolicy(), CATALOG, group, image, b, embedded=True)
    return builds.create(url, group=group, image=image, username="ann", base=base, packages=b.packages.model_dump(),
                         result=result, ref=ref, source=source)


# -- what a request fixes -------------------------------------------------------


def test_a_bad_spec_is_named_and_nothing_is_dropped():
    with pytest.raises(BodyError) as exc:
        parse_body(builds.BuildCreate, {"base": "sci", "packages": {"pip": ["cowsay==6.1", "numpy>>1"]}})
    assert list(exc.value.errors) == ["packages.pip.1"]
    assert "numpy>>1" in exc.value.errors["packages.pip.1"]


def test_embedded_result_is_the_base_packages_plus_pip_and_ref_is_its_environment():
    result, ref, source = plan()
    assert result.local.packages == ["numpy", "cowsay==6.1"]
    assert ref == EnvironmentBuilder("/anywhere").path_for(result).name and ref.startswith("cows-")
    assert source == ""


def test_embedded_refuses_apt_and_conda_and_a_missing_base():
    with pytest.raises(BodyError) as exc:
        plan(base="nope", packages={"pip": [], "apt": ["curl"], "conda": ["numpy"]})
    assert set(exc.value.errors) == {"packages.apt", "packages.conda", "base"}
    assert "embedded" in exc.value.errors["packages.apt"]


def test_kubernetes_ref_is_content_addressed():
    result, ref, source = plan(embedded=False, packages={"pip": ["b", "a"], "apt": ["curl"]})
    again = plan(embedded=False, packages={"pip": ["a", "b"], "apt": ["curl"]})[1]
    other = plan(embedded=False, packages={"pip": ["a", "b", "c"], "apt": ["curl"]})[1]
    assert ref == again != other
    assert ref.startswith("registry.example.org/hub/research-cows:") and len(ref.rsplit(":", 1)[1]) == 12
    assert result.image == ref and source == "quay.io/jupyter/scipy-notebook:2024-05-27"
    with pytest.raises(BodyError) as exc:
        plan(embedded=False, registry="")
    assert "push_registry" in exc.value.errors["base"]


def test_the_build_creates_its_group_image_entry_but_not_over_a_catalog_name():
    policy = builds.with_entry(GroupPolicy(), CATALOG, "cows", body(display_name="Cows"))
    [entry] = policy.group_images
    assert entry.built and entry.title == "Cows"
    assert builds.with_entry(policy, CATALOG, "cows", body()) is None
    with pytest.raises(builds.NameTaken):
        builds.with_entry(GroupPolicy(), CATALOG, "sci", body())


# -- the store and the resolver -------------------------------------------------


def test_numbers_cancel_rebuild_and_queue_places(sqlite_url):
    one, two = request(sqlite_url), request(sqlite_url)
    other = request(sqlite_url, image="goats")
    assert (one.number, two.number, other.number) == (1, 2, 1)
    assert builds.queue_positions(sqlite_url) == {one.id: 1, two.id: 2, other.id: 3}
    assert builds.cancel(sqlite_url, one).phase == "Cancelled"
    again = builds.rebuild(sqlite_url, two, "bob")
    assert (again.number, again.ref, again.package_specs) == (3, two.ref, two.package_specs)
    positions = builds.queue_positions(sqlite_url)
    assert builds.build_json(builds.get(sqlite_url, "research", "cows", 3), positions)["queue_position"] == 3
    assert [b.number for b in builds.builds_of(sqlite_url, "research", "cows")] == [3, 2, 1]


def _finish(url, build, phase):
    from sqlalchemy import update

    from hub_ext.store import session_scope
    from hub_ext.store.models_images import ImageBuild

    with session_scope(url) as s:
        s.execute(update(ImageBuild).where(ImageBuild.id == build.id).values(phase=phase))


def test_a_built_image_is_its_newest_succeeded_build(sqlite_url):
    policy = builds.with_entry(GroupPolicy(), CATALOG, "cows", body(description="Moo"))
    first = request(sqlite_url)
    [pending] = resolved_policy(policy, "research", sqlite_url).group_images
    assert pending.unavailable == builds.NOT_YET and pending.description == "Moo"
    _finish(sqlite_url, first, "Succeeded")
    failed = request(sqlite_url, pip=("cowsay==6.1", "no-such-package-hf"))
    _finish(sqlite_url, failed, "Failed")
    [used] = resolved_policy(policy, "research", sqlite_url).group_images
    assert not used.unavailable and used.local.packages == ["numpy", "cowsay==6.1"]
    assert EnvironmentBuilder("/x").path_for(used).name == first.ref  # the spawner finds the built environment
    assert used.description == "Moo" and used.title == "cows"
    # another group with an image of the same name is not touched
    others = resolved_policies({"research": policy, "other": GroupPolicy(group_images=[Image(name="cows")])},
                               sqlite_url)
    assert others["other"].group_images == [Image(name="cows", from_group=True)]  # only marked as a group's
    assert builds.environments_used(sqlite_url) == {first.ref: "cows of group research (build #1)"}


def test_an_image_whose_builds_all_failed_is_not_available(sqlite_url):
    policy = builds.with_entry(GroupPolicy(), CATALOG, "cows", body())
    _finish(sqlite_url, request(sqlite_url), "Failed")
    [image] = resolved_policy(policy, "research", sqlite_url).group_images
    assert image.unavailable == builds.NEVER_BUILT
    assert "unavailable" not in image.model_dump()  # never stored in the policy


# -- the runner's builder, with a recorded executor ---------------------------


class Recorded(BuildExecutor):
    """An executor whose builds end when the test says; records starts and stops."""

    name = "recorded"

    def __init__(self):
        self.started, self.stopped, self.ends, self.output = [], [], {}, {}

    async def start(self, build):
        self.started.append(build.number)
        self.output[str(build.id)] = b"Collecting cowsay\n"
        return Handle("recorded", str(build.id))

    async def status(self, handle):
        return self.ends.get(handle.ref, Status("Running"))

    async def logs(self, handle, offset=0):
        data = self.output.get(handle.ref, b"")
        return data[offset:], len(data)

    async def stop(self, handle, grace=10.0):
        self.stopped.append(handle.ref)
        self.ends[handle.ref] = Status("Cancelled", "Cancelled", "Cancelled")

    async def adopt(self, handle):
        return False


def phases(url, image="cows"):
    return {b.number: b.phase for b in builds.builds_of(url, "research", image)}


async def test_builds_start_in_order_at_most_n_at_once(sqlite_url):
    rows = [request(sqlite_url) for _ in range(3)]
    executor = Recorded()
    builder = Builder(db_url=sqlite_url, executor=executor, max_concurrent=2)
    await builder.step()
    assert executor.started == [1, 2]
    assert phases(sqlite_url) == {1: "Building", 2: "Building", 3: "Pending"}
    assert builds.queue_positions(sqlite_url) == {rows[2].id: 1}
    await builder.step()
    assert executor.started == [1, 2]  # still full
    executor.ends[str(rows[0].id)] = Status("Succeeded", exit_code=0)
    await builder.step()
    assert phases(sqlite_url) == {1: "Succeeded", 2: "Building", 3: "Building"} and executor.started == [1, 2, 3]
    assert logs_mod.read(sqlite_url, rows[0].id, owner=logs_mod.BUILDS).data == b"Collecting cowsay\n"
    done = builds.get(sqlite_url, "research", "cows", 1)
    assert done.message == f"Built {done.ref}" and done.finished is not None


async def test_cancel_failure_and_restart(sqlite_url):
    cancel_me, fail_me = request(sqlite_url), request(sqlite_url)
    executor = Recorded()
    builder = Builder(db_url=sqlite_url, executor=executor, max_concurrent=2)
    await builder.step()
    builds.cancel(sqlite_url, cancel_me)
    executor.output[str(fail_me.id)] += b"ERROR: No matching distribution found for no-such-package-hf\n"
    executor.ends[str(fail_me.id)] = Status("Failed", "ImageBuildFailed", "pip could not install the packages")
    await builder.step()
    assert executor.stopped == [str(cancel_me.id)]
    assert phases(sqlite_url) == {1: "Cancelled", 2: "Failed"}
    failed = builds.get(sqlite_url, "research", "cows", 2)
    assert failed.message.startswith("pip could not install") and "no-such-package-hf" in failed.message
    # a build left Building by a runner that is gone (and not found again) fails saying so
    lost = request(sqlite_url)
    await builder.step()
    await Builder(db_url=sqlite_url, executor=Recorded()).startup()
    lost = builds.get(sqlite_url, "research", "cows", lost.number)
    assert lost.phase == "Failed" and "restarted" in lost.message


# -- the embedded executor, for real (offline pip) ------------------------------


async def test_embedded_build_streams_pip_and_makes_the_environment_spawns_use(sqlite_url, tmp_path):
    wheel = build_tiny_wheel(tmp_path / "wheel")
    env = EnvironmentBuilder(tmp_path / "envs", pip_args=["--no-index", "--find-links", str(wheel.parent),
                                                          "--disable-pip-version-check"])
    row = request(sqlite_url, pip=("hftiny",), base="python")
    builder = Builder(db_url=sqlite_url, executor=LocalBuilds(env), poll=0.05)
    for _ in range(600):
        await builder.step()
        if phases(sqlite_url)[1] not in ("Pending", "Building"):
            break
        await asyncio.sleep(0.1)
    done = builds.get(sqlite_url, "research", "cows", 1)
    assert done.phase == "Succeeded", done.message
    log = logs_mod.read(sqlite_url, row.id, owner=logs_mod.BUILDS).data.decode()
    assert "Successfully installed hftiny" in log
    policy = builds.with_entry(GroupPolicy(), CATALOG, "cows", body())
    [image] = resolved_policy(policy, "research", sqlite_url).group_images
    assert env.python_for(image) is not None  # a notebook of this image builds nothing


async def test_embedded_build_can_be_cancelled(sqlite_url, tmp_path):
    env = EnvironmentBuilder(tmp_path / "envs", pip_args=["--no-index"])
    executor = LocalBuilds(env)
    row = request(sqlite_url, pip=("hftiny",), base="python")

    async def never(image, report):
        report("Collecting hftiny")
        await asyncio.sleep(3600)

    env.ensure = never
    builder = Builder(db_url=sqlite_url, executor=executor)
    await builder.step()
    builds.cancel(sqlite_url, row)
    await builder.step()
    assert phases(sqlite_url) == {1: "Cancelled"}
    assert json.loads(json.dumps(builds.build_json(builds.get(sqlite_url, "research", "cows", 1))))["done"]


def test_a_removed_image_forgets_its_builds(sqlite_url):
    done, running = request(sqlite_url), request(sqlite_url)
    _finish(sqlite_url, done, "Succeeded")
    _finish(sqlite_url, running, "Building")
    with session_scope(sqlite_url) as s:
        logs_mod.append(s, done.id, 0, b"Collecting cowsay\n", 2**20, owner=logs_mod.BUILDS)
    builds.forget(sqlite_url, "research", "cows")
    [left] = builds.builds_of(sqlite_url, "research", "cows")
    assert left.number == running.number and left.cancel_requested  # the runner stops it
    assert logs_mod.read(sqlite_url, done.id, owner=logs_mod.BUILDS).data == b""
    # an image added again under that name is itself, not an old build
    again = GroupPolicy(group_images=[Image(name="cows", image="quay.io/x/y:1")])
    assert resolved_policy(again, "research", sqlite_url).group_images == [
        im.model_copy(update={"from_group": True}) for im in again.group_images]


def test_maintenance_keeps_environments_of_builds_in_use_and_running(sqlite_url, tmp_path):
    from hub_ext.maintenance import envs as maintenance_envs

    used, running, old = request(sqlite_url), request(sqlite_url, pip=("cowsay==6.0",)), "cows-000000000000"
    _finish(sqlite_url, used, "Succeeded")
    _finish(sqlite_url, running, "Building")
    for name in (used.ref, running.ref, old):
        (tmp_path / "envs" / name).mkdir(parents=True)
        (tmp_path / "envs" / name / ".ready").write_text("ok\n")
    found = {e["name"]: e for e in maintenance_envs.environments(tmp_path / "envs", [], grace=0, db_url=sqlite_url)}
    assert found[used.ref]["used"] and "build #1" in found[used.ref]["reason"]
    assert found[running.ref]["used"] and "building" in found[running.ref]["reason"]
    assert not found[old]["used"]
    removed = maintenance_envs.remove_unused(tmp_path / "envs", [], grace=0, db_url=sqlite_url)
    assert [e["name"] for e in removed] == [old]


async def test_an_embedded_build_does_not_survive_the_runner(sqlite_url, tmp_path):
    row = request(sqlite_url, pip=("hftiny",), base="python")
    _finish(sqlite_url, row, "Building")
    from sqlalchemy import update

    from hub_ext.store.models_images import ImageBuild

    with session_scope(sqlite_url) as s:  # as the runner that died had stored it
        s.execute(update(ImageBuild).where(ImageBuild.id == row.id).values(handle=f"local:build-{row.id}"))
    await Builder(db_url=sqlite_url, executor=LocalBuilds(EnvironmentBuilder(tmp_path / "envs"))).startup()
    lost = builds.get(sqlite_url, "research", "cows", 1)
    assert lost.phase == "Failed" and "runner restarted" in lost.message and "Rebuild" in lost.message
