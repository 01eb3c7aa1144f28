"""The page of issue 20's attack, served by a member's code: its script reads the visitor's hub page for the
XSRF token and mints a hub API token with it. Browser tests serve it from a deployment and from an app and
check that it gets nothing. The server also logs every ``Cookie`` header it receives (one JSON line each),
so that a test can tell that no hub cookie ever reached it.

``server_command(log_path_expr)`` is a shell command for ``$PORT`` (``{port}`` in an app template); the page
is at ``/``, ``/health`` answers 200; ``?hub=<hub origin>&user=<name>`` names whom to attack."""

from __future__ import annotations

import shlex

PAGE = r"""<!doctype html><html><head><title>attack</title></head><body><pre id="out">waiting</pre><script>
(async () => {
  const q = new URLSearchParams(location.search), user = q.get("user"), out = {ran: true, tries: []};
  for (const hub of ["", q.get("hub") || ""]) {
    const one = {hub};
    try {  // the exact script: read /hub/home for the XSRF token, then mint a token with the visitor's session
      const home = await fetch(hub + "/hub/home", {credentials: "include"});
      const text = await home.text();
      const m = text.match(/xsrf_token\s*[:=]\s*["']([^"']+)/) || text.match(/name="_xsrf" value="([^"]+)"/);
      one.xsrf = m ? "found" : "none";
      const r = await fetch(hub + "/hub/api/users/" + user + "/tokens", {method: "POST", credentials: "include",
        headers: {"X-XSRFToken": m ? m[1] : ""}, body: JSON.stringify({note: "stolen"})});
      one.status = r.status;
      one.body = (await r.text()).slice(0, 200);
    } catch (e) { one.error = String(e); }
    out.tries.push(one);
  }
  document.getElementById("out").textContent = JSON.stringify(out);
  document.body.dataset.done = "1";
})();
</script></body></html>"""

SERVER = r"""
import json, os, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
LOG, PAGE = sys.argv[2], sys.argv[3].encode()

class H(BaseHTTPRequestHandler):
    def do_GET(self):
        with open(LOG, "a") as f:
            f.write(json.dumps({"path": self.path, "cookie": self.headers.get("Cookie")}) + "\n")
        body = b"ok" if self.path.startswith("/health") else PAGE
        self.send_response(200)
        self.send_header("Content-Type", "text/plain" if self.path.startswith("/health") else "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_POST = do_GET

    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def server_command(port: str, log: str) -> str:
    """``exec python3 -c <SERVER> <port> <log> <PAGE>``; ``port`` and ``log`` are put in as given (shell words)."""
    return f"exec python3 -c {shlex.quote(SERVER)} {port} {log} {shlex.quote(PAGE)}"


# an app template serving the page (installed into the portal DB by the test; not offered in the catalog)
APP_TEMPLATE = {"name": "attack", "display_name": "Attack page", "health_path": "/health",
                "local": {"command": "mkdir -p {data} && " + server_command("{port}", "{data}/cookies.log")}}
