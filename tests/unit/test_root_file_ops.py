"""Every file operation of the hub and the runner (root, in the embedded default) that could follow a path
goes through hub_ext/isolation/ (safefs, acl, shared): this test reads hub_ext/ and spawner/ and fails on
a call outside that package (os.chmod/chown/rename/unlink/mkdir/walk…, Path.chmod/unlink/rename…,
shutil.*, setfacl/chown/cp/mv/rm run as commands, zip/tar writes) unless the function is listed below
with the reason it cannot touch a member's tree. A new ``os.chmod(...)`` in the files API fails here."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCANNED = ("hub_ext", "spawner")
EXEMPT = "hub_ext/isolation/"  # the package that owns the fd-based primitives

OS_CALLS = {"chmod", "chown", "lchown", "rename", "renames", "replace", "unlink", "remove", "rmdir", "removedirs",
            "mkdir", "makedirs", "walk", "fwalk", "symlink", "link", "truncate", "lchmod"}
PATH_METHODS = {"chmod", "lchmod", "chown", "unlink", "rename", "rmdir", "mkdir", "touch", "symlink_to",
                "hardlink_to", "write_text", "write_bytes"}
SHUTIL_OK = {"which", "get_terminal_size"}
COMMANDS = {"setfacl", "getfacl", "chown", "chmod", "chgrp", "cp", "mv", "rm", "rsync", "tar", "unzip", "ln"}
SUBPROCESS = {"run", "Popen", "call", "check_call", "check_output", "create_subprocess_exec"}

# (module, function) -> why it never acts on a tree a member writes
ALLOWED = {
    ("hub_ext.auth.bootstrap", "ensure_admin_account"): "the hub's own data dir (0711, no member writes there)",
    ("hub_ext.keys", "load_key"): "the hub's own key file in its data dir",
    ("hub_ext.ssh.hostkeys", "_make"): "the SSH gateway's host keys in the hub's own <data>/ssh (0700)",
    ("hub_ext.ssh.hostkeys", "ensure_host_keys"): "the SSH gateway's host keys in the hub's own <data>/ssh (0700)",
    ("hub_ext.ssh.agent", "_agent_dir"): "/run/hubfront-ssh, made by root under root's /run and refused unless "
                                         "root's own folder (no member writes there)",
    ("hub_ext.ssh.agent", "AgentRelay"): "the relay's socket in /run/hubfront-ssh (root's own 0711 folder, a random "
                                         "name), chowned without following links",
    ("hub_ext.portal.desktop.pyz", "build"): "a fresh private temporary folder of the hub's own "
                                             "(tempfile.TemporaryDirectory), zipped into memory",
    ("hub_ext.store.engine", "private_sqlite_files"): "the database's own folder (the hub's data dir)",
    ("hub_ext.services.webapp", "hear_wakes"): "the runner's wake-up socket in the hub's own data dir (0700), "
                                               "removed only when it is a socket",
    ("hub_ext.services.executors.keeper", "CappedLog.write"): "the runner's own log dir (0700)",
    ("hub_ext.services.executors.keeper", "write_state"): "the runner's own state dir (0700)",
    ("hub_ext.jobs.artifacts", "to_tar"): "a tar stream to a pipe, written as the job's own account",
    ("hub_ext.datasets.git", "_preexec"): "runs in the child after the workload entry, as the group's service account",
    ("hub_ext.datasets.git", "_record"): "the clone's record beside it in the dataset's root-only folder "
                                         "(0700, groups r-X through ACLs)",
    ("hub_ext.datasets.git", "sync"): "renames the handed-over clone within the dataset's root-only folder",
    ("hub_ext.portal.files.tus", "UploadAPIHandler.on_connection_close"): "UploadStore.touch: a database update",
    ("hub_ext.images.environments", "EnvironmentBuilder"): "the hub's own <data>/envs: built by the hub, never "
                                                    "writable by workloads (hardening keeps it 0755)",
}


def _flagged(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Attribute):
        owner = func.value.id if isinstance(func.value, ast.Name) else None
        if owner == "os" and func.attr in OS_CALLS:
            return f"os.{func.attr}"
        if owner == "shutil" and func.attr not in SHUTIL_OK:
            return f"shutil.{func.attr}"
        if owner in ("subprocess", "asyncio") and func.attr in SUBPROCESS and call.args:
            first = call.args[0]
            if isinstance(first, (ast.List, ast.Tuple)) and first.elts and isinstance(first.elts[0], ast.Constant) \
                    and first.elts[0].value in COMMANDS:
                return f"{owner}.{func.attr}([{first.elts[0].value!r}, ...])"
            if isinstance(first, ast.Constant) and first.value in COMMANDS:
                return f"{owner}.{func.attr}({first.value!r}, ...)"
        if owner == "tarfile" and func.attr == "open" or owner == "zipfile" and func.attr == "ZipFile":
            modes = [k.value for k in call.keywords if k.arg == "mode"] + call.args[1:2]
            if any(isinstance(m, ast.Constant) and str(m.value)[:1] in "wax" for m in modes):
                return f"{owner}.{func.attr}(mode=write)"
        if func.attr == "extractall":
            return "extractall"
        if owner not in ("os", "shutil", "subprocess", "asyncio", "str") and func.attr in PATH_METHODS:
            return f".{func.attr}()"
    return None


def _calls(path: Path) -> list[tuple[str, int, str]]:
    """(function qualname, line, what) of every flagged call in the file."""
    found: list[tuple[str, int, str]] = []

    def visit(node: ast.AST, scope: list[str]) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                visit(child, [*scope, child.name])
                continue
            if isinstance(child, ast.Call):
                what = _flagged(child)
                if what:
                    found.append((".".join(scope) or "<module>", child.lineno, what))
            if isinstance(child, ast.Constant) and child.value in ("setfacl", "getfacl"):
                found.append((".".join(scope) or "<module>", child.lineno, f"names {child.value}"))
            visit(child, scope)

    visit(ast.parse(path.read_text(), str(path)), [])
    return found


def _scan() -> list[tuple[str, str, int, str]]:
    out = []
    for top in SCANNED:
        for path in sorted((REPO / top).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            if rel.startswith(EXEMPT):
                continue
            module = rel[:-3].replace("/", ".").removesuffix(".__init__")
            for function, line, what in _calls(path):
                out.append((module, function, line, what))
    return out


def _bypasses(found) -> list[str]:
    """The calls that are neither in the isolation package nor allowed, as ``module:line function what``."""
    out = []
    for module, function, line, what in found:
        allowed = ALLOWED.get((module, function)) or ALLOWED.get((module, function.split(".")[0]))
        if not allowed:
            out.append(f"{module.replace('.', '/')}.py:{line} {function}: {what}")
    return out


def test_no_root_file_operation_bypasses_the_isolation_package():
    bypasses = _bypasses(_scan())
    assert not bypasses, ("file operations outside hub_ext/isolation/ (use hub_ext.isolation.safefs, or add the "
                          "function to ALLOWED with the reason it never touches a member's tree):\n  "
                          + "\n  ".join(bypasses))


def test_every_allowed_function_still_exists_and_has_a_reason():
    found = {(module, function) for module, function, _, _ in _scan()}
    found |= {(module, function.split(".")[0]) for module, function in found}
    stale = [key for key in ALLOWED if key not in found]
    assert not stale, f"allowed entries that no longer make such calls (remove them): {stale}"
    assert all(reason.strip() for reason in ALLOWED.values())


def test_a_new_chmod_in_the_files_api_is_caught(tmp_path):
    source = (REPO / "hub_ext/portal/files/service.py").read_text()
    planted = source.replace("    def mkdir(self, rel: str) -> str:\n",
                             "    def mkdir(self, rel: str) -> str:\n        os.chmod(rel, 0o777)\n", 1)
    assert planted != source
    (tmp_path / "service.py").write_text(planted)
    calls = [("hub_ext.portal.files.service", *c) for c in _calls(tmp_path / "service.py")]
    assert any("TreeFiles.mkdir" in b and "os.chmod" in b for b in _bypasses(calls))
