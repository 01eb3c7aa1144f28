"""RBAC from the code: what Hubfront's code asks of the Kubernetes API, and whether RBAC rules grant it.

What the code needs is read from the code: every module under ``hub_ext/`` and ``spawner/`` is parsed,
and every use of a ``kubernetes_asyncio`` API method (a call, a method handed to a helper, or the
method's name as a string) is a need, with its call site. Which verb on which resource a method needs
is read from ``kubernetes_asyncio`` itself: the request its ``<method>_with_http_info`` sends
(``/apis/batch/v1/namespaces/{namespace}/jobs/{name}/status`` with GET is ``get`` on ``batch``
``jobs/status`` in a namespace). Rules are matched the way the API server's RBAC matches them (a
subresource only when it is listed). Used by ``tests/unit/test_kube_rbac.py``.

``CustomObjectsApi``'s paths name the API group and resource as parameters
(``/apis/{group}/{version}/namespaces/{namespace}/{plural}``): a call's rule takes them from the call's
arguments (by keyword or position) when they are literal strings or the module's constants
(``GROUP = "metrics.k8s.io"``). Any other argument leaves ``{group}`` or ``{plural}`` in the rule,
which no manifest grants and ``test_kube_rbac`` reports with its call site.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import pkgutil
import re
from dataclasses import dataclass

import kubernetes_asyncio.client.api as k8s_api
from support import REPO

SCANNED = ("hub_ext", "spawner")
ACCOUNT = {"kind": "ServiceAccount", "name": "hub", "namespace": "hubfront"}  # the hub's, and so the runner's


@dataclass(frozen=True, order=True)
class Rule:
    verb: str
    group: str
    resource: str  # "jobs" or "jobs/status"
    cluster: bool  # cluster-scoped, or across all namespaces: only a ClusterRole grants it

    def __str__(self):
        return f"{self.verb} {self.group or 'core'} {self.resource}" + (" (cluster)" if self.cluster else "")


@dataclass(frozen=True, order=True)
class Need:
    rule: Rule
    site: str  # file:line
    method: str

    def __str__(self):
        return f"{self.rule} for {self.method} at {self.site}"


# --- what each kubernetes_asyncio API method asks ---------------------------------------------

_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}


def rule_of(path: str, http: str) -> Rule | None:
    """The RBAC rule a request needs; None for paths RBAC does not guard by resource (discovery)."""
    parts = path.strip("/").split("/")
    if parts[0] == "api":
        group, rest = "", parts[2:]
    elif parts[0] == "apis" and len(parts) > 3:
        group, rest = parts[1], parts[3:]
    else:
        return None
    watch = rest[:1] == ["watch"]
    rest = rest[1:] if watch else rest
    namespaced = len(rest) > 2 and rest[:2] == ["namespaces", "{namespace}"]
    rest = rest[2:] if namespaced else rest
    if not rest:
        return None
    named = len(rest) > 1
    resource = "/".join([rest[0], *rest[2:3]])
    if watch:
        verb = "watch"
    elif http in ("GET", "HEAD"):
        verb = "get" if named else "list"
    elif http == "DELETE":
        verb = "delete" if named else "deletecollection"
    elif http in _VERBS:
        verb = _VERBS[http]
    else:
        return None
    return Rule(verb, group, resource, not namespaced)


# a request method's source: def <name>_with_http_info(self, <params>, **kwargs): ...
#   self.api_client.call_api('<path>', '<HTTP>', ...
_REQUEST = re.compile(r"def (\w+)_with_http_info\(self,?([^)]*)\).*?\.call_api\(\s*'([^']*)',\s*'([A-Z]+)'",
                      re.DOTALL)
_TEMPLATE = re.compile(r"\{(\w+)\}")  # a path parameter left in a rule: {group}, {plural}, {resource_plural}


def _scan_api() -> tuple[dict[str, set[Rule]], dict[str, tuple[str, ...]]]:
    rules: dict[str, set[Rule]] = {}
    params: dict[str, tuple[str, ...]] = {}
    for info in pkgutil.iter_modules(k8s_api.__path__):
        source = inspect.getsource(importlib.import_module(f"{k8s_api.__name__}.{info.name}"))
        for name, args, path, http in _REQUEST.findall(source):
            rule = rule_of(path, http)
            if rule is not None:
                rules.setdefault(name, set()).add(rule)
                params[name] = tuple(a.strip() for a in args.split(",") if a.strip() and "*" not in a)
    return rules, params


@functools.cache
def api_methods() -> dict[str, frozenset[Rule]]:
    """Every API method of kubernetes_asyncio and the rules it may need (one unless two API groups
    share the method's name), from the path and HTTP method its ``call_api`` sends. A
    ``CustomObjectsApi`` method's rule keeps its path's parameters (``{group}``, ``{plural}``)."""
    return {name: frozenset(rules) for name, rules in _scan_api()[0].items()}


@functools.cache
def api_params() -> dict[str, tuple[str, ...]]:
    """Each API method's positional parameters, in order (``group, version, namespace, plural``)."""
    return _scan_api()[1]


def templated(rule: Rule) -> bool:
    """Whether the rule still names a path parameter (a call whose group or resource is not known)."""
    return bool(_TEMPLATE.search(rule.group + rule.resource))


def filled(rule: Rule, args: dict[str, str]) -> Rule:
    """``rule`` with its path parameters taken from a call's literal ``args`` (those not known stay)."""
    if not templated(rule):
        return rule
    def fill(text: str) -> str:
        return _TEMPLATE.sub(lambda m: args.get(m.group(1), m.group(0)), text)

    return Rule(rule.verb, fill(rule.group), fill(rule.resource), rule.cluster)


# --- what the code calls ----------------------------------------------------------------------


def module_constants(tree: ast.AST) -> dict[str, str]:
    """The module's string constants: ``NAME = "text"`` and ``A, B = "a", "b"`` at its top level."""
    found = {}
    for stmt in getattr(tree, "body", []):
        if isinstance(stmt, ast.Assign):
            pairs = []
            for target in stmt.targets:
                if isinstance(target, ast.Name):
                    pairs.append((target, stmt.value))
                elif isinstance(target, ast.Tuple) and isinstance(stmt.value, ast.Tuple):
                    pairs += zip(target.elts, stmt.value.elts)
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            pairs = [(stmt.target, stmt.value)]
        else:
            continue
        for target, value in pairs:
            if isinstance(target, ast.Name) and isinstance(value, ast.Constant) and isinstance(value.value, str):
                found[target.id] = value.value
    return found


def _literal_args(call: ast.Call, method: str, constants: dict[str, str]) -> dict[str, str]:
    """The call's arguments that are literal strings (or the module's constants), by parameter name."""
    def literal(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        return constants.get(node.id) if isinstance(node, ast.Name) else None

    given = [*zip(api_params().get(method, ()), call.args), *((k.arg, k.value) for k in call.keywords if k.arg)]
    return {name: value for name, node in given if (value := literal(node)) is not None}


def api_uses(tree: ast.AST, constants: dict[str, str] | None = None) -> list[tuple[str, int, bool, dict]]:
    """(method, line, watched, literal arguments) for each use of an API method in ``tree``:
    ``api.read_x(...)``, ``api.read_x`` handed on, ``getattr(api, "read_x")`` or the bare name as a string;
    watched when the call asks ``watch=True`` or the method is handed to a ``Watch().stream``. The
    literal arguments (``group="metrics.k8s.io"``, or a constant of ``constants``: by default the
    module's own) are those of a direct call only."""
    constants = module_constants(tree) if constants is None else constants
    methods, watched, calls = api_methods(), set(), {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            calls[id(node.func)] = node
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "stream":
            watched.update(id(a) for a in node.args)
        elif isinstance(node, ast.Call) and any(k.arg == "watch" and getattr(k.value, "value", True) is not False
                                                for k in node.keywords):
            watched.add(id(node.func))
    uses = []
    for node in ast.walk(tree):
        name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "value", None)
        if isinstance(node, (ast.Attribute, ast.Constant)) and isinstance(name, str) and name in methods:
            call = calls.get(id(node)) if isinstance(node, ast.Attribute) else None
            args = _literal_args(call, name, constants) if call is not None else {}
            uses.append((name, node.lineno, id(node) in watched, args))
    return uses


# A pod's streams over a websocket (kubernetes_asyncio's ``connect_get_*``: exec, attach, port-forward) are a GET,
# which RBAC checks as ``get``; newer API servers check ``create`` on the upgrade as well, as they always did for
# SPDY's POST (the AuthorizePodWebsocketUpgradeCreatePermission feature). Such a call needs both.
STREAMS = ("pods/exec", "pods/attach", "pods/portforward")


def needs_of(uses, relpath: str) -> set[Need]:
    needs = set()
    for method, line, watched, args in uses:
        for rule in api_methods()[method]:
            rule = filled(rule, args)
            if watched:
                rule = Rule("watch", rule.group, rule.resource, rule.cluster)
            needs.add(Need(rule, f"{relpath}:{line}", method))
            if rule.verb == "get" and rule.resource in STREAMS:
                needs.add(Need(Rule("create", rule.group, rule.resource, rule.cluster), f"{relpath}:{line}", method))
    return needs


@functools.cache
def modules() -> dict[str, ast.Module]:
    return {str(path.relative_to(REPO)): ast.parse(path.read_text(), str(path))
            for top in SCANNED for path in sorted((REPO / top).rglob("*.py"))}


@functools.cache
def code_needs() -> frozenset[Need]:
    """Every rule the code's Kubernetes calls need, with their call sites."""
    return frozenset(need for relpath, tree in modules().items() for need in needs_of(api_uses(tree), relpath))


@dataclass
class _Class:
    relpath: str
    node: ast.ClassDef
    methods: dict
    attrs: dict  # self.<attr> -> class name


@functools.cache
def _classes() -> dict[str, _Class]:
    """The scanned code's classes, with the class of each ``self.<attr>`` that a constructor call, an
    annotated parameter or a traitlets ``Instance`` tells."""
    found = {}
    for relpath, tree in modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                methods = {f.name: f for f in node.body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))}
                found[node.name] = _Class(relpath, node, methods, {})
    for cls in found.values():
        places = [(stmt, {}) for stmt in cls.node.body]  # class attributes: traitlets Instance(...)
        for fn in cls.methods.values():
            hints = {a.arg: a.annotation for a in fn.args.args + fn.args.kwonlyargs if a.annotation}
            places += [(stmt, hints) for stmt in ast.walk(fn)]
        for stmt, hints in places:
            target = stmt.targets[0] if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 else None
            if isinstance(target, ast.Attribute) and getattr(target.value, "id", "") == "self":
                attr = target.attr
            elif isinstance(target, ast.Name) and stmt in cls.node.body:
                attr = target.id
            else:
                continue
            said = [stmt.value, *(hints[n.id] for n in ast.walk(stmt.value) if getattr(n, "id", "") in hints)]
            known = sorted({n.id for hint in said for n in ast.walk(hint) if isinstance(n, ast.Name)} & found.keys())
            if known:
                cls.attrs[attr] = known[0]
    return found


def reached_needs(base: str) -> set[Need]:
    """The rules the code reaches from the methods of every class deriving from ``base``: their own
    calls, then those of what they call: methods on ``self`` and ``self.<attr>``, the module's functions."""
    classes = _classes()
    functions = {(relpath, f.name): f for relpath, tree in modules().items() for f in tree.body
                 if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))}

    def method(cls_name, name):
        cls = classes.get(cls_name)
        if cls is None:
            return None
        if name in cls.methods:
            return cls.relpath, cls, cls.methods[name]
        bases = (b.id for b in cls.node.bases if isinstance(b, ast.Name))
        return next(filter(None, (method(b, name) for b in bases)), None)

    todo = [(c.relpath, c, f) for c in classes.values() if any(getattr(b, "id", "") == base for b in c.node.bases)
            for f in c.methods.values()]
    seen, needs = set(), set()
    while todo:
        relpath, cls, fn = todo.pop()
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        needs |= needs_of(api_uses(fn, module_constants(modules()[relpath])), relpath)
        for call in ast.walk(fn):
            func, found = getattr(call, "func", None), None
            if isinstance(func, ast.Name) and (relpath, func.id) in functions:
                found = relpath, None, functions[relpath, func.id]
            elif isinstance(func, ast.Attribute) and cls is not None:
                owner = func.value
                if isinstance(owner, ast.Name) and owner.id == "self":
                    found = method(cls.node.name, func.attr)
                elif isinstance(owner, ast.Attribute) and getattr(owner.value, "id", "") == "self":
                    found = method(cls.attrs.get(owner.attr), func.attr)
            if found:
                todo.append(found)
    return needs


# --- what the manifest grants -----------------------------------------------------------------


def bound_rules(docs: list[dict], namespace: str | None) -> list[dict]:
    """The rules the hub's service account holds in ``namespace`` from Roles bound there, or (None)
    cluster-wide from ClusterRoles bound by ClusterRoleBindings."""
    kind, binding = ("ClusterRole", "ClusterRoleBinding") if namespace is None else ("Role", "RoleBinding")
    roles = {d["metadata"]["name"]: d for d in docs
             if d["kind"] == kind and d["metadata"].get("namespace") == namespace}
    rules = []
    for d in docs:
        if d["kind"] == binding and d["metadata"].get("namespace") == namespace and ACCOUNT in d["subjects"]:
            ref = d["roleRef"]
            if ref["kind"] == kind and ref["name"] in roles:
                rules += roles[ref["name"]].get("rules") or []
    return rules


def grants(rule: dict, need: Rule) -> bool:
    """Whether one RBAC rule allows ``need``, as the API server matches it ("*/<sub>" included)."""
    sub = need.resource.partition("/")[2]
    return (not rule.get("resourceNames")
            and any(g in ("*", need.group) for g in rule.get("apiGroups", []))
            and any(r in ("*", need.resource) or (sub and r == f"*/{sub}") for r in rule.get("resources", []))
            and any(v in ("*", need.verb) for v in rule.get("verbs", [])))


def missing(needs, rules: list[dict]) -> list[Need]:
    return sorted(n for n in needs if not any(grants(r, n.rule) for r in rules))


def unused(rules: list[dict], needs, allowed) -> list[tuple[str, str, str]]:
    """(verb, group, resource) the rules grant that no need asks for, apart from those ``allowed``."""
    asked = {(n.rule.verb, n.rule.group, n.rule.resource) for n in needs}
    granted = {(v, g, r) for rule in rules for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}
    return sorted(granted - asked - set(allowed))
