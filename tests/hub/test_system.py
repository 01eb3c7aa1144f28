"""System Resources: admins see system-wide figures, a member only their own (test_system_member.py:
what they hold and their sessions' live use)."""

from conftest_helpers import login, make_user

SYSTEM_KEYS = {"nodes", "cpu_percent", "cpu_count", "memory_used", "memory_total", "memory_percent", "gpus"}


async def test_admin_sees_nodes_sessions_and_utilisation(app):
    await make_user(app, "sys-root", admin=True, groups=["sys-g"])
    s = await login(app, "sys-root")
    data = (await s.api("GET", "/portal/system/resources")).json()
    assert data["scope"] == "system" and SYSTEM_KEYS <= set(data)
    assert data["nodes"] == 1  # the embedded default's one machine
    assert 0 < data["memory_used"] <= data["memory_total"]
    assert data["gpus"] == [] and data["text"]["gpu"] == "no GPUs"  # no NVIDIA driver here: no crash either
    page = (await s.get("hub/portal/system")).text
    assert "Running sessions" in page and "Memory" in page and 'data-field="cpu"' in page
    assert 'data-refresh-ms="5000"' in page  # it refreshes itself


async def test_a_member_sees_no_system_wide_figure(app):
    await make_user(app, "sys-uma", groups=["sys-g"])
    await make_user(app, "sys-other", groups=["sys-g"])
    other = app.users["sys-other"]
    await other.spawn("")  # someone else's running server counts system-wide, not for uma
    try:
        s = await login(app, "sys-uma")
        data = (await s.api("GET", "/portal/system/resources")).json()
        assert set(data) == {"scope", "sessions", "session_rows", "allocation", "live_unavailable", "text", "percent"}
        assert (data["scope"], data["sessions"], data["session_rows"]) == ("user", 0, [])
        assert [doc["group"] for doc in data["allocation"]] == ["sys-g"]  # her groups only
        page = (await s.get("hub/portal/system")).text
        assert "Your sessions" in page and "Nothing of yours is running." in page
        assert "What you hold against your quota" in page
        for figure in ('data-field="nodes"', 'data-field="cpu"', 'data-field="memory"', "Running sessions"):
            assert figure not in page
        assert "refreshes every 5 s ·" not in page  # no dangling separator before the first refresh
        await make_user(app, "sys-root", admin=True)
        admin = (await (await login(app, "sys-root")).api("GET", "/portal/system/resources")).json()
        assert admin["sessions"] == 1
    finally:
        await other.stop("")


def test_gpus_from_nvml_and_a_failing_nvml_means_no_gpus(monkeypatch):
    import sys
    from types import SimpleNamespace

    from hub_ext.portal.system import resources

    class NVMLError(Exception):
        pass

    def failing_init():
        raise NVMLError("Driver Not Loaded")

    monkeypatch.setitem(sys.modules, "pynvml", SimpleNamespace(nvmlInit=failing_init))
    assert resources._Nvml().gpus() == []

    fake = SimpleNamespace(
        nvmlInit=lambda: None, nvmlDeviceGetCount=lambda: 2, nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetUtilizationRates=lambda h: SimpleNamespace(gpu=[30, 70][h]),
        nvmlDeviceGetMemoryInfo=lambda h: SimpleNamespace(used=2 * 2**30, total=80 * 2**30),
        nvmlDeviceGetName=lambda h: b"NVIDIA H100",
    )
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    gpus = resources._Nvml().gpus()
    assert [g["utilization"] for g in gpus] == [30.0, 70.0] and gpus[0]["name"] == "NVIDIA H100"
    view = resources.admin_view(1, 0, {**resources.host_metrics(), "gpus": gpus})
    assert view["text"]["gpu"] == "50% of 2 GPUs" and view["text"]["gpu1"] == "70% · 2.0 GiB of 80.0 GiB"
