"""The GroupPolicy mixin: admission against group policy and quota for any spawner.

Both spawners share this: the launch is resolved against the group policy
(``spawner.plan``), reserved in the ledger before anything starts, and the
reservation is released on stop, on a failed start and when the server dies.
Subclasses only say how an admitted plan becomes a running server
(``apply_plan``) and, for local processes, which GPUs exist.
"""

from __future__ import annotations

import asyncio

from jupyterhub.spawner import Spawner, SpawnException
from traitlets import Unicode, default

from hub_ext import activity
from hub_ext.apps.registry import mlflow_env
from hub_ext.bodies import BodyError
from hub_ext.datasets.picks import check_picks, choices as dataset_choices
from hub_ext.groups import group_policy
from hub_ext.images.resolve import resolved_policies
from hub_ext.ledger import Ledger, QuotaExceeded, Request
from hub_ext.lifecycle.records import take_stop_message
from hub_ext.ledger.workloads import NOTEBOOK, Liveness, notebook_id
from hub_ext.resource_groups import allowed as allowed_groups, summary
from hub_ext.settings import Hubfront

from .form import remaining_rows, render_options_form
from .gpus import machine_reason
from .plan import LaunchPlan, LaunchRefused, resolve, server_name_for, split_picks
from .progress import LaunchProgress

WORKLOAD_KIND = NOTEBOOK
OPTION_KEYS = ("group", "instance_type", "image", "resource_group", "datasets")


class GroupPolicy(Spawner):
    """Mixin (put it first in the bases) that enforces group policy and quota."""

    allocate_local_devices = False  # local spawners pick GPU indices on this machine

    hubfront_state_key = Unicode(
        "hubfront", help="Key of the spawner state that keeps the server's group, instance type and image."
    ).tag(config=True)

    plan: LaunchPlan | None = None
    launch_progress = LaunchProgress()  # empty until start() makes the launch's own
    _ended_plan: LaunchPlan | None = None  # of a server that died while starting, until released
    devices: list[int] = []

    # -- helpers ---------------------------------------------------------

    @property
    def hubfront(self) -> Hubfront:
        return Hubfront.instance(config=self.config)

    def gpu_inventory(self) -> list[int] | None:
        """GPU device indices this spawner may hand out (None: the scheduler does it)."""
        return self.machine_gpus(self.config)

    @classmethod
    def machine_gpus(cls, config) -> list[int] | None:
        """The GPUs launches can get, from config alone (the portal asks too); None: a scheduler decides."""
        return None

    @property
    def ledger(self) -> Ledger:
        return Ledger(self.hubfront.db_url, self.gpu_inventory if self.allocate_local_devices else None)

    @property
    def workload_id(self) -> str:
        return notebook_id(self.user.name, self.name)

    def _groups(self):
        groups = list(self.user.orm_user.groups)
        # images made by builds as their version in use (hub_ext.images.resolve)
        return [g.name for g in groups], resolved_policies({g.name: group_policy(g) for g in groups},
                                                           self.hubfront.db_url)

    def _refuse(self, message: str, status: int = 403, reason: str = "policy"):
        exc = SpawnException(message, reason=reason, status_code=status)
        exc.jupyterhub_message = message
        return exc

    # -- user options ----------------------------------------------------

    def options_from_form(self, formdata):
        options = {key: (formdata.get(key) or [""])[0].strip() for key in OPTION_KEYS if formdata.get(key)}
        if "datasets" in options:  # "imagenet,labels@v3" (the form's picks)
            options["datasets"] = split_picks(options["datasets"])
        return options

    def options_from_query(self, query_data):
        return self.options_from_form(query_data)

    def form_selection(self) -> dict:
        """What the launch form shows selected: the last options, or those a link pre-fills."""
        prefill = getattr(getattr(self, "handler", None), "launch_prefill", None) or {}
        return {**dict(self.user_options or {}), **prefill}

    @default("options_form")
    def _options_form_default(self):
        return self.render_form

    async def render_form(self, spawner=None):
        names, policies = self._groups()
        group = self.group_name
        if group is None:
            return "<p class='alert alert-warning'>This server name belongs to none of your groups.</p>"
        policy = policies[group]
        snapshot = await asyncio.to_thread(self.ledger.snapshot, group)
        types = policy.allowed_instance_types(self.hubfront.catalog)
        titles = {group: policy.display_name or group}  # the group as people read it
        check = {
            it.name: [activity.name_groups(line, titles) for line in snapshot.shortfalls(
                self.user.name, Request(cpu=it.cpu, memory=it.memory, gpu=it.gpu), policy.quota, policy.user_quota)]
            for it in types
        }
        inventory = self.gpu_inventory()
        unavailable = {it.name: machine_reason(it.gpu, inventory) for it in types}
        datasets = await asyncio.to_thread(dataset_choices, self.hubfront.db_url, group)
        return render_options_form(
            group=group, policy=policy, catalog=self.hubfront.catalog, shortfalls=check,
            unavailable={k: v for k, v in unavailable.items() if v}, selected=self.form_selection(),
            datasets=datasets,
            resource_groups=[summary(rg) for rg in allowed_groups(policy, self.hubfront.catalog)],
            remaining=remaining_rows(snapshot, self.user.name, policy),
        )

    @default("apply_user_options")
    def _apply_user_options_default(self):
        # group, instance_type and image are applied by start() through the plan,
        # after admission; nothing is applied from user_options directly
        return lambda spawner, user_options: None

    def resolve_plan(self) -> LaunchPlan:
        names, policies = self._groups()
        try:
            return resolve(
                server_name=self.name,
                options=dict(self.user_options or {}),
                group_names=names,
                policies=policies,
                catalog=self.hubfront.catalog,
            )
        except LaunchRefused as exc:
            raise self._refuse(exc.message, exc.status) from None

    # -- lifecycle -------------------------------------------------------

    async def prepare_environment(self, plan: LaunchPlan) -> None:
        """Get what the plan needs ready before any quota is reserved (local: build a venv)."""

    async def prepare_workload(self, plan: LaunchPlan) -> None:
        """After admission, right before the start: set up what confines the workload (local: OS account, cgroup)."""

    def apply_plan(self, plan: LaunchPlan, devices: list[int]) -> None:
        """Turn the admitted plan into this spawner's settings (limits, image, devices)."""
        it = plan.instance_type
        self.cpu_limit = it.cpu
        self.mem_limit = it.memory
        self.cpu_guarantee = it.cpu
        self.mem_guarantee = it.memory

    def _quota_refusal(self, message: str, plan: LaunchPlan) -> SpawnException:
        self.record("refused", "error", message, plan)  # the activity's words are named where it is shown
        return self._refuse(activity.name_groups(message, {plan.group: group_title(plan)}), 403, reason="quota")

    async def check_datasets(self, plan: LaunchPlan) -> None:
        """The picks are datasets the group may use, with versions that exist (400 naming ``datasets``)."""
        try:
            await asyncio.to_thread(check_picks, self.hubfront.db_url, plan.group, list(plan.datasets))
        except BodyError as exc:
            raise self._refuse(str(exc), 400) from None

    async def start(self):
        self.launch_progress = LaunchProgress()
        self.progress_step("prepare", 0, "Checking the launch against the group's policy and quota")
        plan = self.resolve_plan()
        await self.check_datasets(plan)
        it = plan.instance_type
        unservable = machine_reason(it.gpu, self.gpu_inventory())
        if unservable:
            raise self._refuse(f"{it.title}: {unservable}", 400)
        request = Request(cpu=it.cpu, memory=it.memory, gpu=it.gpu)
        # Refuse an over-quota launch before preparing anything (building an image's
        # environment can take minutes); reserve() below still decides, atomically.
        over = await asyncio.to_thread(
            self.ledger.shortfalls, group=plan.group, username=self.user.name, request=request,
            group_quota=plan.policy.quota, user_quota=plan.policy.user_quota,
        )
        if over and await asyncio.to_thread(self.ledger.get, WORKLOAD_KIND, self.workload_id) is None:
            raise self._quota_refusal(QuotaExceeded(over).message, plan)
        await self.prepare_environment(plan)
        self.progress_step("prepare", 1, f"Environment for {plan.image.title} is ready")
        try:
            reservation = await asyncio.to_thread(
                self.ledger.reserve,
                kind=WORKLOAD_KIND,
                workload_id=self.workload_id,
                username=self.user.name,
                group=plan.group,
                request=request,
                group_quota=plan.policy.quota,
                user_quota=plan.policy.user_quota,
                allocate_devices=self.allocate_local_devices,
                resource_group=plan.resource_group.name if plan.resource_group else "",
            )
        except QuotaExceeded as exc:
            raise self._quota_refusal(exc.message, plan) from None
        self.plan = plan
        self.devices = reservation.device_ids
        self.progress_step("start", 0.1, f"Reserved {it.title} in the group's quota")
        try:
            self.apply_plan(plan, self.devices)
            self.progress_step("start", 0.2, "Setting up the server's account, limits and storage")
            await self.prepare_workload(plan)
            self.progress_step("start", 0.4, "Starting the server")
            result = await super().start()
        except BaseException:
            await self.release()
            self.record("failed", "error", f"Notebook in {group_title(plan)} failed to start", plan)
            raise
        self.progress_step("start", 0.9, "The server is running; waiting for it to answer")
        self.record("started", "ok", f"Notebook started in {group_title(plan)} ({it.title}, {plan.image.title})", plan)
        return result

    # -- progress on the spawn-pending page (spawner.progress) ---------------

    def progress_step(self, phase: str, fraction: float | None = None, message: str | None = None,
                      detail: str | None = None) -> None:
        self.launch_progress.step(phase, fraction, message, detail)

    async def progress(self):
        """Each phase's steps as they happen; once the server is being started, the platform's own
        progress (KubeSpawner's pod events) as steps of that phase."""
        seen, platform = 0, _platform_progress(self)
        while self._spawn_pending:
            launch = self.launch_progress
            while seen < len(launch.events):
                yield launch.events[seen]
                seen += 1
            if platform and launch.phase == "start":
                platform = False
                async for event in super().progress():
                    yield launch.platform(event)
                continue
            await asyncio.sleep(0.5)

    async def stop(self, now=False):
        plan = self.plan
        try:
            await super().stop(now=now)
        finally:
            self._ended_plan = None
            if await self.release() and plan:
                await self.record_end(plan, None)

    async def poll(self):
        # LocalProcessSpawner.poll clears the state of a dead process, so a server that
        # died while still starting (JupyterHub polls it then) keeps its plan here until
        # the stop that follows releases its reservation
        plan = self.plan or self._ended_plan
        status = await super().poll()
        if status is not None and plan is not None:
            if self._spawn_pending:
                self._ended_plan = plan
            elif await self.release():
                self._ended_plan = None
                await self.record_end(plan, status)
        return status

    async def record_end(self, plan: LaunchPlan, status: int | None) -> None:
        """The server's end, once (whichever of stop and poll released it): the culler's words when the
        runner's culler stopped it (hub_ext.lifecycle), else a stop (``status`` None) or how it exited."""
        culled = await asyncio.to_thread(take_stop_message, self.hubfront.db_url, self.user.name, self.name)
        if culled:
            self.record("culled", "info", culled, plan)
        elif status is None:
            self.record("stopped", "info", f"Notebook in {group_title(plan)} stopped", plan)
        else:
            self.record_exit(status, plan)

    def record_exit(self, status: int, plan: LaunchPlan) -> None:
        """The server ended by itself: say how (a clean shutdown is not an error)."""
        if status == 0:
            self.record("stopped", "info", f"Notebook in {group_title(plan)} stopped", plan)
        else:
            self.record("failed", "error", f"Notebook in {group_title(plan)} exited (status {status})", plan)

    async def release(self) -> bool:
        return await asyncio.to_thread(self.ledger.release, WORKLOAD_KIND, self.workload_id)

    def record(self, action: str, status: str, message: str, plan: LaunchPlan | None) -> None:
        """Append to the activity record (Recent panel, Logs/Errors)."""
        activity.record(
            self.hubfront.db_url, username=self.user.name, group=plan.group if plan else None,
            kind=WORKLOAD_KIND, action=action, message=message, status=status,
            workload_id=self.workload_id, link=f"{self.hub.base_url}portal/notebooks",
        )

    # -- environment and state -------------------------------------------

    def get_env(self):
        env = super().get_env()
        if self.plan:
            env.update(
                HUBFRONT_GROUP=self.plan.group,
                HUBFRONT_INSTANCE_TYPE=self.plan.instance_type.name,
                HUBFRONT_IMAGE=self.plan.image.name,
            )
            token = env.get("JUPYTERHUB_API_TOKEN", "")
            env.update(mlflow_env(self.plan.policy, self.plan.group, token))
        return env

    def get_state(self):
        state = super().get_state()
        if self.plan:
            state[self.hubfront_state_key] = {**self.plan.summary(), "devices": self.devices}
        return state

    def load_state(self, state):
        super().load_state(state)
        saved = (state or {}).get(self.hubfront_state_key)
        if saved and self.plan is None:
            names, policies = self._groups()
            catalog = self.hubfront.catalog
            it = catalog.instance_type(saved["instance_type"])
            policy = policies.get(saved["group"])
            image = (catalog.image(saved["image"]) or next(
                (im for im in (policy.group_images if policy else []) if im.name == saved["image"]), None))
            if it and image and policy:
                self.plan = LaunchPlan(saved["group"], it, image, policy, tuple(saved.get("datasets") or ()))
            self.devices = list(saved.get("devices") or [])

    def clear_state(self):
        super().clear_state()
        self.plan = None
        self.devices = []

    @property
    def group_name(self) -> str | None:
        """The server's group, for listings (from the plan, else from the name)."""
        if self.plan:
            return self.plan.group
        names, _ = self._groups()
        return next((g for g in names if server_name_for(g) == self.name), None)


def group_title(plan: LaunchPlan) -> str:
    """The plan's group as people read it (its display name) in activity lines."""
    return plan.policy.display_name or plan.group


def _platform_progress(spawner) -> bool:
    """Whether the spawner class GroupPolicy is mixed into reports progress of its own (JupyterHub's
    default, one "Spawning server..." at 50 %, is not that)."""
    mro = type(spawner).__mro__
    owner = next((k for k in mro[mro.index(GroupPolicy) + 1:] if "progress" in vars(k)), Spawner)
    return owner is not Spawner


def reconcile_notebooks(db, ledger: Ledger) -> list:
    """At hub start: drop notebook reservations whose server is not recorded as running.

    Servers the hub still records are polled by JupyterHub right after start;
    those found dead are stopped, which releases their reservation in ``stop()``.
    """
    return ledger.reconcile(Liveness(ledger.db_url, running_notebooks(db)), kind=WORKLOAD_KIND)


def running_notebooks(db, users=None) -> set[str]:
    """The workload ids of every server the hub records as running, and (given the hub's ``users``) of those
    it is starting now."""
    from jupyterhub import orm

    running = {notebook_id(s.user.name, s.name)
               for s in db.query(orm.Spawner).filter(orm.Spawner.server_id.isnot(None))}
    for user in list((users or {}).values()):
        for name, spawner in list(user.spawners.items()):
            if spawner.pending or spawner.ready:
                running.add(notebook_id(user.name, name))
    return running
