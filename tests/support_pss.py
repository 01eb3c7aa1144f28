"""A checker of the Kubernetes Pod Security Standards ("baseline" and "restricted"), field by field.

What Pod Security admission checks when a namespace is labelled
``pod-security.kubernetes.io/enforce: <level>``, written from the published profiles
(kubernetes.io, "Pod Security Standards", the policy as of Kubernetes 1.29 and later). It reads a
PodSpec as Kubernetes JSON (camelCase), with its pod's metadata when given (the AppArmor
annotations), and returns every violation as ``"<control>: <field path> <what is wrong>"``;
an empty list means the pod is admitted at that level. Windows pods are out of scope (Hubfront
makes none).

A pod object, a pod template (``{"metadata", "spec"}``) or a bare PodSpec are all accepted.
"""

from __future__ import annotations

LEVELS = ("baseline", "restricted")

# baseline: capabilities a container may add (the container runtimes' default set)
BASELINE_CAPABILITIES = {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                         "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
# baseline: the "safe" sysctls a pod may set
SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
                "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
                "net.ipv4.tcp_keepalive_probes"}
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
# restricted: the only volume sources
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                      "projected", "secret"}
CONTAINER_KINDS = ("containers", "initContainers", "ephemeralContainers")


def _split(pod: dict) -> tuple[dict, dict]:
    """(metadata, spec) of a pod, a pod template or a bare PodSpec."""
    if "spec" in pod and isinstance(pod["spec"], dict) and "containers" in pod["spec"]:
        return pod.get("metadata") or {}, pod["spec"]
    return {}, pod


def containers(spec: dict):
    """``(path, container)`` of every container, init container and ephemeral container."""
    for kind in CONTAINER_KINDS:
        for index, container in enumerate(spec.get(kind) or []):
            yield f"spec.{kind}[{index}]", container


def _baseline(metadata: dict, spec: dict) -> list[str]:
    out = []
    psc = spec.get("securityContext") or {}
    if (psc.get("windowsOptions") or {}).get("hostProcess"):
        out.append("HostProcess: spec.securityContext.windowsOptions.hostProcess must be false")
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            out.append(f"Host Namespaces: spec.{field} must be false")
    for index, volume in enumerate(spec.get("volumes") or []):
        if "hostPath" in volume:
            out.append(f"HostPath Volumes: spec.volumes[{index}].hostPath is not allowed")
    out += _apparmor("spec.securityContext", psc)
    out += _selinux("spec.securityContext", psc)
    out += _seccomp_not_unconfined("spec.securityContext", psc)
    for index, sysctl in enumerate(psc.get("sysctls") or []):
        if sysctl.get("name") not in SAFE_SYSCTLS:
            out.append(f"Sysctls: spec.securityContext.sysctls[{index}] {sysctl.get('name')!r} is not a safe sysctl")
    for key, value in (metadata.get("annotations") or {}).items():
        if key.startswith(APPARMOR_ANNOTATION) and not (value == "runtime/default" or value.startswith("localhost/")):
            out.append(f"AppArmor: metadata.annotations[{key!r}] must be runtime/default or localhost/*")
    for path, container in containers(spec):
        sc = container.get("securityContext") or {}
        if (sc.get("windowsOptions") or {}).get("hostProcess"):
            out.append(f"HostProcess: {path}.securityContext.windowsOptions.hostProcess must be false")
        if sc.get("privileged"):
            out.append(f"Privileged Containers: {path}.securityContext.privileged must be false")
        for cap in (sc.get("capabilities") or {}).get("add") or []:
            if cap not in BASELINE_CAPABILITIES:
                out.append(f"Capabilities: {path}.securityContext.capabilities.add {cap} is not in the default set")
        for port_index, port in enumerate(container.get("ports") or []):
            if port.get("hostPort"):
                out.append(f"Host Ports: {path}.ports[{port_index}].hostPort must be 0 or unset")
        out += _apparmor(f"{path}.securityContext", sc)
        out += _selinux(f"{path}.securityContext", sc)
        if sc.get("procMount", "Default") != "Default":
            out.append(f"/proc Mount Type: {path}.securityContext.procMount must be Default")
        out += _seccomp_not_unconfined(f"{path}.securityContext", sc)
    return out


def _apparmor(path: str, sc: dict) -> list[str]:
    kind = (sc.get("appArmorProfile") or {}).get("type")
    if kind not in (None, "RuntimeDefault", "Localhost"):
        return [f"AppArmor: {path}.appArmorProfile.type {kind} is not allowed"]
    return []


def _selinux(path: str, sc: dict) -> list[str]:
    options = sc.get("seLinuxOptions") or {}
    out = []
    if options.get("type", "") not in SELINUX_TYPES:
        out.append(f"SELinux: {path}.seLinuxOptions.type {options['type']} is not allowed")
    for field in ("user", "role"):
        if options.get(field):
            out.append(f"SELinux: {path}.seLinuxOptions.{field} must be unset")
    return out


def _seccomp_not_unconfined(path: str, sc: dict) -> list[str]:
    if (sc.get("seccompProfile") or {}).get("type") == "Unconfined":
        return [f"Seccomp: {path}.seccompProfile.type must not be Unconfined"]
    return []


def _restricted(spec: dict) -> list[str]:
    out = []
    psc = spec.get("securityContext") or {}
    for index, volume in enumerate(spec.get("volumes") or []):
        sources = set(volume) - {"name"}
        if not sources <= RESTRICTED_VOLUMES:
            out.append(f"Volume Types: spec.volumes[{index}] uses {', '.join(sorted(sources - RESTRICTED_VOLUMES))}")
    if psc.get("runAsNonRoot") is False:
        out.append("Running as Non-root: spec.securityContext.runAsNonRoot must not be false")
    if psc.get("runAsUser") == 0:
        out.append("Running as Non-root user: spec.securityContext.runAsUser must not be 0")
    pod_seccomp = (psc.get("seccompProfile") or {}).get("type")
    for path, container in containers(spec):
        sc = container.get("securityContext") or {}
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append(f"Privilege Escalation: {path}.securityContext.allowPrivilegeEscalation must be false")
        non_root = sc.get("runAsNonRoot", psc.get("runAsNonRoot"))
        if non_root is not True:
            out.append(f"Running as Non-root: {path}.securityContext.runAsNonRoot must be true (or the pod's)")
        if sc.get("runAsUser") == 0:
            out.append(f"Running as Non-root user: {path}.securityContext.runAsUser must not be 0")
        seccomp = (sc.get("seccompProfile") or {}).get("type", pod_seccomp)
        if seccomp not in ("RuntimeDefault", "Localhost"):
            out.append(f"Seccomp: {path}.securityContext.seccompProfile.type must be RuntimeDefault or Localhost "
                       "(or the pod's)")
        capabilities = sc.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            out.append(f"Capabilities: {path}.securityContext.capabilities.drop must hold ALL")
        for cap in capabilities.get("add") or []:
            if cap != "NET_BIND_SERVICE":
                out.append(f"Capabilities: {path}.securityContext.capabilities.add {cap} (only NET_BIND_SERVICE)")
    return out


def violations(pod: dict, level: str = "restricted") -> list[str]:
    """What keeps ``pod`` out of a namespace enforcing ``level`` ("baseline" or "restricted")."""
    if level not in LEVELS:
        raise ValueError(f"unknown Pod Security level {level!r}")
    metadata, spec = _split(pod)
    out = _baseline(metadata, spec)
    if level == "restricted":
        out += _restricted(spec)
    return out
