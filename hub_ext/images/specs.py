"""Package specs of an image, each checked by its manager's grammar (no tornado here).

Nothing is dropped silently: every spec is either accepted as given or refused
with a message naming it exactly as given, under ``packages.<manager>.<index>``.

Grammars:

- **pip**: a PEP 508 requirement as parsed by ``packaging.requirements.Requirement``
  (``numpy``, ``numpy>=1.2,<3``, ``requests[socks]==2.31``, markers too). Direct
  references (``name @ url``) are refused: the builder would fetch whatever the URL names.
- **apt**: ``name`` or ``name=version``, ``name`` by Debian policy (lower case letters,
  digits, ``+ - .``, at least two characters, starting with a letter or digit),
  ``version`` of letters, digits and ``. + ~ : -`` starting with a digit.
- **conda**: ``[channel::]name[<op>version]`` with ``<op>`` one of ``= == >= <= > < !=``,
  ``name`` of lower case letters, digits and ``_ . -``; ``version`` of letters, digits,
  ``. * + _ -``; a channel name like a package name.

apt and conda specs exist only where images are container images (Kubernetes);
the embedded mode builds a Python virtual environment and refuses them.
"""

from __future__ import annotations

import re
from typing import Annotated

from packaging.requirements import InvalidRequirement, Requirement
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

MANAGERS = ("pip", "apt", "conda")
MAX_SPECS = 200
MAX_SPEC_LENGTH = 200

APT_SPEC = re.compile(r"^(?P<name>[a-z0-9][a-z0-9+.-]+)(?:=(?P<version>[0-9][A-Za-z0-9.+~:-]*))?$")
CONDA_SPEC = re.compile(
    r"^(?:(?P<channel>[a-z0-9][a-z0-9_.-]*)::)?(?P<name>[a-z0-9][a-z0-9_.-]*)"
    r"(?:(?P<op>==|>=|<=|!=|=|>|<)(?P<version>[A-Za-z0-9][A-Za-z0-9.*+_-]*))?$")

EMBEDDED_REFUSAL = ("{manager} packages are not installed in the embedded mode (images there are Python "
                    "virtual environments): use pip packages, or run the hub on Kubernetes")


class SpecError(ValueError):
    """One spec refused; the message names it as given."""


def check_pip(spec: str) -> str:
    """``spec`` if ``packaging`` parses it as a requirement without a URL, else SpecError."""
    try:
        requirement = Requirement(spec)
    except InvalidRequirement as exc:
        raise SpecError(f"{spec!r} is not a valid pip requirement: {str(exc).splitlines()[0]}") from None
    if requirement.url:
        raise SpecError(f"{spec!r}: direct references (name @ url) are not allowed; name a package and version")
    return spec


def check_apt(spec: str) -> str:
    if not APT_SPEC.match(spec):
        raise SpecError(f"{spec!r} is not a valid apt package: expected name or name=version "
                        "(name: lower case letters, digits, + - ., at least 2 characters)")
    return spec


def check_conda(spec: str) -> str:
    if not CONDA_SPEC.match(spec):
        raise SpecError(f"{spec!r} is not a valid conda package: expected [channel::]name, name=version "
                        "or name followed by ==, >=, <=, >, < or != and a version")
    return spec


CHECKERS = {"pip": check_pip, "apt": check_apt, "conda": check_conda}


def _checked(check):
    def validate(spec: str) -> str:
        if not spec or spec != spec.strip():
            raise ValueError(f"{spec!r}: a spec is not empty and has no leading or trailing spaces")
        if len(spec) > MAX_SPEC_LENGTH:
            raise ValueError(f"{spec[:40]!r}...: a spec is at most {MAX_SPEC_LENGTH} characters")
        try:
            return check(spec)
        except SpecError as exc:
            raise ValueError(str(exc)) from None
    return AfterValidator(validate)


def _unique(specs: list[str]) -> list[str]:
    twice = next((s for i, s in enumerate(specs) if s in specs[:i]), None)
    if twice is not None:
        raise ValueError(f"{twice!r} is listed twice")
    return specs


PipSpec = Annotated[str, _checked(check_pip)]
AptSpec = Annotated[str, _checked(check_apt)]
CondaSpec = Annotated[str, _checked(check_conda)]


class Packages(BaseModel):
    """Packages by manager. A spec refused by its manager's grammar is a 400 naming the spec as
    given, under ``packages.<manager>.<index>``; a spec listed twice is refused too."""

    model_config = ConfigDict(extra="forbid", strict=True)

    pip: list[PipSpec] = Field(default=[], max_length=MAX_SPECS,
                               description="PEP 508 requirements, e.g. `numpy>=1.2,<3` (no `name @ url`)")
    apt: list[AptSpec] = Field(default=[], max_length=MAX_SPECS,
                               description="Debian packages: `name` or `name=version` (Kubernetes only)")
    conda: list[CondaSpec] = Field(default=[], max_length=MAX_SPECS,
                                   description="`[channel::]name[op version]`, e.g. `conda-forge::numpy>=1.26` "
                                               "(Kubernetes only)")

    _unique_specs = field_validator("pip", "apt", "conda")(_unique)

    def embedded_errors(self) -> dict[str, str]:
        """``{"packages.apt": why}`` (and conda): what the embedded mode refuses, as a whole per manager."""
        return {f"packages.{m}": EMBEDDED_REFUSAL.format(manager=m) for m in ("apt", "conda") if getattr(self, m)}

    def is_empty(self) -> bool:
        return not (self.pip or self.apt or self.conda)


def validate_packages(data, embedded: bool) -> Packages:
    """The build step's entry point: ``data`` (``{"pip": [...], "apt": [...], "conda": [...]}``) checked by
    each manager's grammar, and for the embedded mode without apt or conda; else
    :class:`hub_ext.bodies.BodyError` naming ``packages.<manager>[.<index>]``."""
    from ..bodies import BodyError, parse_body

    try:
        packages = parse_body(Packages, data)
    except BodyError as exc:
        raise BodyError({f"packages.{k}" if k != "body" else "packages": v for k, v in exc.errors.items()}) from None
    if embedded and (errors := packages.embedded_errors()):
        raise BodyError(errors)
    return packages


def embedded_mode(config) -> bool:
    """Whether workloads run on this machine (not a KubeSpawner): images are then local environments."""
    from ..mode import embedded

    return embedded(config)
