"""``hubfront.pyz``: the command-line client as one file a user downloads and runs on their own computer.

Built with the standard library's ``zipapp`` from the client's own modules (``hub_ext.cli.standalone`` and
what it imports, all standard library only), so it needs nothing but Python 3 there. The modules are read
as files, not imported: the hub web layer does not depend on the command line. A hub builds it once, on
the first download, and keeps the bytes (``handlers.PyzHandler``).
"""

from __future__ import annotations

import hashlib
import io
import tempfile
import zipapp
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2]  # hub_ext
# the client path: hub_ext.cli.standalone -> .jobs -> .client -> hub_ext.field_messages (and hub_ext's version)
CLIENT_MODULES = ("__init__.py", "field_messages.py", "cli/client.py", "cli/jobs.py", "cli/standalone.py")
# hub_ext/cli/__init__.py is the operator command's (it imports the hub's settings): the archive has its own
CLI_PACKAGE = '"""hubfront.pyz: the client commands only (hub_ext.cli.standalone)."""\n'
# zipapp's own main= would drop the exit status: the archive's __main__ passes it on
MAIN = "import sys\n\nfrom hub_ext.cli.standalone import main\n\nsys.exit(main())\n"
FILENAME = "hubfront.pyz"


@dataclass(frozen=True)
class Archive:
    data: bytes
    sha256: str


def build(package: Path = PACKAGE) -> Archive:
    """The zipapp's bytes (``#!/usr/bin/env python3`` first, so it runs as ``hubfront`` once executable)."""
    with tempfile.TemporaryDirectory(prefix="hubfront-pyz-") as tmp:
        root = Path(tmp) / "app"
        for name in CLIENT_MODULES:
            target = root / "hub_ext" / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((package / name).read_bytes())
        (root / "hub_ext" / "cli" / "__init__.py").write_text(CLI_PACKAGE)
        (root / "__main__.py").write_text(MAIN)
        out = io.BytesIO()
        zipapp.create_archive(root, out, interpreter="/usr/bin/env python3", compressed=True)
    data = out.getvalue()
    return Archive(data=data, sha256=hashlib.sha256(data).hexdigest())
