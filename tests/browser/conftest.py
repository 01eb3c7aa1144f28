"""A real hub for browser tests, with a catalog whose images need no package build."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from attack_pages import APP_TEMPLATE
from support import REPO, RealHub, need, no_mockhub_cleanup, proxy_command  # noqa: F401  (the fixture)

CATALOG = textwrap.dedent("""
    catalog:
      instance_types:
        - {name: cpu-small, display_name: CPU small, cpu: 500m, memory: 1Gi}
        - {name: cpu-medium, display_name: CPU medium, cpu: 2, memory: 4Gi}
        - {name: gpu-1, display_name: 1 GPU, cpu: 1, memory: 2Gi, gpu: 1}
      images:
        - {name: base, display_name: Python, image: base:cpu, gpu_image: base:gpu}
        - {name: tensorflow, display_name: TensorFlow, image: tf:cpu, quick_launch: tensorflow}
        - {name: pytorch, display_name: PyTorch, image: torch:cpu, quick_launch: pytorch}
    groups:
      alpha:
        members: [admin]
        policy: {display_name: Alpha Lab, quota: {cpu: 1}, default_instance_type: cpu-small}
      beta:
        members: [admin]
        policy: {display_name: Beta Team, default_instance_type: cpu-small}
""")


@pytest.fixture(scope="module")
def portal_hub(tmp_path_factory):
    need(proxy_command() is not None, "configurable-http-proxy is not installed (run `make test`)")
    data = Path(tmp_path_factory.mktemp("browserhub"))
    catalog = data / "catalog.yaml"
    catalog.write_text(CATALOG)
    config = data / "browser_config.py"  # the product's config, plus what these tests need
    config.write_text(textwrap.dedent(f"""
        load_subconfig({str(REPO / "jupyterhub_config.py")!r})
        c.Datasets.allow_local_git_urls = True  # the datasets test clones a repository it made on this disk
        c.Apps.templates = [{APP_TEMPLATE!r}]  # issue 20's attack page as an app (installed by its test only)
    """))
    hub = RealHub(data, env={"HUBFRONT_CATALOG": str(catalog)}, config=config)
    hub.start()
    yield hub
    hub.close()
