"""The spawn-pending page's events on a platform that reports progress of its own (KubeSpawner's pod
events): they come in as steps of "Starting the server", within its share of the bar, as details."""

import asyncio

from jupyterhub.spawner import LocalProcessSpawner

from spawner.mixin import GroupPolicy
from spawner.progress import LaunchProgress


class PodEvents(LocalProcessSpawner):
    """Stands for KubeSpawner: its progress() yields the pod's events, out of 90, until the pod runs."""

    async def progress(self):
        for percent, text in ((30, "Scheduled: assigned to node-1"), (50, "Pulling image"), (63, "Started container")):
            yield {"progress": percent, "message": text}


class PodSpawner(GroupPolicy, PodEvents):
    pass


class LocalLike(GroupPolicy, LocalProcessSpawner):  # JupyterHub's default progress (one "Spawning server..." at 50 %) is dropped
    pass


async def _events(spawner, launch: LaunchProgress) -> list[dict]:
    spawner.launch_progress = launch
    spawner._spawn_pending = True
    out = []

    async def read():
        async for event in spawner.progress():
            out.append(event)

    task = asyncio.ensure_future(read())
    await asyncio.sleep(1.2)
    spawner._spawn_pending = False
    await asyncio.wait_for(task, 5)
    return out


async def test_pod_events_are_details_of_starting_the_server_within_its_share():
    launch = LaunchProgress()
    launch.step("prepare", 1, "The environment of Python is ready")
    launch.step("start", 0.4, "Starting the server")
    events = await _events(PodSpawner(), launch)
    assert [e.get("detail") for e in events[2:]] == ["Scheduled: assigned to node-1", "Pulling image",
                                                     "Started container"]
    assert all(e["phase"] == "start" and e["message"] == "Starting the server" for e in events[2:])
    progress = [e["progress"] for e in events]
    assert progress == sorted(progress) and 60 < progress[-1] < 95, progress


async def test_without_platform_progress_only_the_launch_steps_are_sent():
    launch = LaunchProgress()
    launch.step("start", 0.4, "Starting the server")
    events = await _events(LocalLike(), launch)
    assert [e["message"] for e in events] == ["Starting the server"]
    assert "Spawning server..." not in str(events)
