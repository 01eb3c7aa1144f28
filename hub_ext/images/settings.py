"""The operator's settings of image builds (traitlets ``c.ImageBuilds.…``, read by the hub and the runner).

The embedded mode builds a Python environment on this machine and needs none of these; on
Kubernetes a build is a Job running kaniko (default) or buildah that pushes to ``push_registry``, in a
namespace of its own (``namespace``).
How many builds run at once is the runner's ``c.Runner.max_concurrent_builds``.
"""

from __future__ import annotations

from traitlets import Bool, Dict, Enum, Int, Unicode, default
from traitlets.config import SingletonConfigurable

BUILDER_IMAGES = {"kaniko": "gcr.io/kaniko-project/executor:v1.23.2-debug",
                  "buildah": "quay.io/buildah/stable:v1.37"}


class ImageBuilds(SingletonConfigurable):
    tool = Enum(["kaniko", "buildah"], "kaniko",
                help="What builds images on Kubernetes: 'kaniko' (no privileges needed) or 'buildah' "
                     "(rootless, needs /dev/fuse or the vfs driver).").tag(config=True)

    builder_image = Unicode(help="The image that runs the build; default: a pinned kaniko or buildah "
                                 "image, by ``tool``.").tag(config=True)

    @default("builder_image")
    def _builder_image_default(self):
        return BUILDER_IMAGES[self.tool]

    push_registry = Unicode(
        "", help="""Where built images are pushed, e.g. ``registry.example.org/hubfront``. A build's image
        is ``<push_registry>/<group>-<image>:<digest>``, the digest a hash of its base and packages.
        Required on Kubernetes (builds are refused without it).""",
    ).tag(config=True)

    push_secret = Unicode(
        "", help="""Name of a Secret of type ``kubernetes.io/dockerconfigjson`` in the builds' ``namespace``
        with the credentials to push to ``push_registry`` (mounted as the builder's docker config).
        Empty: push without credentials.""",
    ).tag(config=True)

    only_binary = Bool(
        True, help="""Embedded builds install wheels only (pip ``--only-binary=:all:``): building a source
        distribution runs its code, and the runner builds as the hub's account. Turn off only where
        every group admin may run code as that account.""",
    ).tag(config=True)

    def group_pip_args(self) -> list[str]:
        """pip's extra arguments for environments of a group's image, built at launch too."""
        return ["--only-binary=:all:"] if self.only_binary else []

    insecure_registry = Bool(False, help="Push over plain HTTP (a registry inside the cluster).").tag(config=True)

    namespace = Unicode(
        "hubfront-builds", help="""Namespace of the build Jobs, apart from the users' workloads: kaniko and
        buildah run as root (no privileged flag, no added capability), which the Pod Security level
        "restricted" of the workloads' namespace refuses, so this one is labelled "baseline"
        (config/kubernetes/namespaces.yaml). The runner needs the jobs' permissions there, the group's
        NetworkPolicy is applied there too, and ``push_secret`` lives there. Empty: the jobs' namespace
        (``KubernetesExecutor.namespace``), which must then allow "baseline".""",
    ).tag(config=True)

    job_name_prefix = Unicode("hubfront-build-", help="Prefix of build Job names (then the build id).").tag(config=True)

    cpu = Unicode("1", help="CPU request and limit of a build pod.").tag(config=True)
    memory = Unicode("4Gi", help="Memory request and limit of a build pod.").tag(config=True)

    timeout = Int(3600, help="Seconds a build may take (the Job's activeDeadlineSeconds).").tag(config=True)

    node_selector = Dict(help="nodeSelector of build pods.").tag(config=True)
