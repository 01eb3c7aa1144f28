"""The built-in app templates (dicts of :class:`.templates.AppTemplate` fields): MLflow, Streamlit and
code-server offered by default; Label Studio and TensorBoard documented, enabled by name.

Each declares the memory and CPU it needs at least (``min_memory``, ``min_cpu``): the Apps page offers
only instance types that hold them and the API refuses smaller ones. MLflow's were measured (the admin
guide's apps section gives the numbers and the command, ``python -m bench.app_footprint``); the
others' are their idle footprint with room for a user's work.
"""

from __future__ import annotations

_ICON = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32" width="32" height="32">{}</svg>'
_STREAMLIT_EXAMPLE = '''import streamlit as st

st.title("Hello from your group's Streamlit app")
st.write("Edit this file in the group's storage (apps/<app>/app.py) and the page reloads.")
n = st.slider("How many?", 1, 100, 25)
st.line_chart([i * i for i in range(n)])
'''
_STREAMLIT = "1.67.0"
_STREAMLIT_RUN = ("mkdir -p {{data}} && cd {{data}} && app=\"${{STREAMLIT_APP:-app.py}}\" && "
                  "{{ [ -e \"$app\" ] || cat > \"$app\" <<'EOF'\n" + _STREAMLIT_EXAMPLE.replace("{", "{{").replace("}", "}}")
                  + "EOF\n}} && exec {streamlit} run \"$app\" --server.address {{host}} --server.port {{port}} "
                  "--server.headless true --server.enableXsrfProtection false --browser.gatherUsageStats false")
_LABEL_STUDIO = "1.23.2"
_LABEL_STUDIO_RUN = ("mkdir -p {data} && LABEL_STUDIO_BASE_DATA_DIR={data} exec label-studio start --no-browser "
                     "--internal-host {host} --port {port}")  # its projects in the app's folder, here and in a pod
_TENSORBOARD = "2.21.0"
_TENSORBOARD_RUN = "cd {shared} && exec tensorboard --logdir \"${LOGDIR:-logs}\" --host {host} --port {port}"

BUILTIN: dict[str, dict] = {
    "mlflow": {
        "name": "mlflow", "display_name": "MLflow tracking server",
        "description": "Experiment tracking and a model registry for the group. Runs, metrics and models are "
                       "kept in the group's storage (a SQLite database and an artifacts folder). Bind it as the "
                       "group's registry and the Models page lists what members register.",
        "icon": _ICON.format('<rect width="32" height="32" rx="6" fill="#0194e2"/><path d="M7 22l6-9 5 6 3-4 4 7" '
                             'stroke="#fff" stroke-width="2.5" fill="none" stroke-linejoin="round"/>'),
        "docs_url": "https://mlflow.org/docs/latest/tracking.html", "version": "3",
        # measured (docs/admin-guide.md, "How much an app needs"): one worker without MLflow's background jobs
        # peaks at 380 MiB under 20 registrations and 50 UI loads; each more worker takes about 200 MiB, the
        # background jobs (GenAI evaluation, trace roll-ups: seven more processes) 1.4 GiB
        "min_memory": "1Gi", "min_cpu": "500m",
        "env": [{"name": "MLFLOW_WORKERS", "default": "1",
                 "description": "Server worker processes (each more needs about 200 MiB more memory)"},
                {"name": "MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "default": "false",
                 "description": "true runs MLflow's background jobs (GenAI evaluation and trace roll-ups): "
                                "1.4 GiB more memory, an instance type of 2 GiB or more"}],
        "health_path": "/health", "registry": True,
        "local": {"command": "mkdir -p {data}/artifacts && exec mlflow server --host {host} --port {port} "
                             "--workers \"${MLFLOW_WORKERS:-1}\" --backend-store-uri sqlite:///{data}/mlflow.db "
                             "--artifacts-destination {data}/artifacts --serve-artifacts "
                             "--allowed-hosts '*' --cors-allowed-origins '*'"},
        # the server's version within the hub's MLflow client's range (pyproject.toml, mlflow-skinny)
        "kubernetes": {"image": "ghcr.io/mlflow/mlflow:v3.18.0", "command": ["/bin/sh", "-c"],
                       "args": ["mkdir -p {data}/artifacts && exec mlflow server --host {host} --port {port} "
                                "--workers \"${MLFLOW_WORKERS:-1}\" --backend-store-uri sqlite:///{data}/mlflow.db "
                                "--artifacts-destination {data}/artifacts --serve-artifacts --allowed-hosts '*' "
                                "--cors-allowed-origins '*'"]},
    },
    "streamlit": {
        "name": "streamlit", "display_name": "Streamlit",
        "description": "Serves a Streamlit app file from the group's storage. Without one it writes a small "
                       "example (apps/<app>/app.py) to start from.",
        "icon": _ICON.format('<rect width="32" height="32" rx="6" fill="#fff"/><path d="M16 5l11 19H5z" '
                             'fill="#ff4b4b"/><path d="M16 12l6 12H10z" fill="#7d353b"/>'),
        "docs_url": "https://docs.streamlit.io/", "version": _STREAMLIT,
        "env": [{"name": "STREAMLIT_APP", "default": "app.py",
                 "description": "The app file, relative to the app's folder in the group's storage"}],
        "health_path": "/_stcore/health",
        # measured idle: 42 MiB before a session; each session runs the app's script (pandas, charts: hundreds of MiB)
        "min_memory": "512Mi", "min_cpu": "250m",
        "local": {"pip": [f"streamlit=={_STREAMLIT}"], "command": _STREAMLIT_RUN.format(streamlit="streamlit")},
        # the image's uid has no home: Streamlit goes into a user site under /tmp
        "kubernetes": {"image": "python:3.12.12-slim", "command": ["/bin/sh", "-c"],
                       "args": [f"export HOME=/tmp && python -m pip install --user --quiet --no-cache-dir "
                                f"--disable-pip-version-check streamlit=={_STREAMLIT} && "
                                + _STREAMLIT_RUN.format(streamlit="python -m streamlit")]},
    },
    "code-server": {
        "name": "code-server", "display_name": "VS Code (code-server)",
        "description": "VS Code in the browser on the group's storage, for everyone the app's access allows. "
                       "Extensions and settings are kept in the app's folder.",
        "icon": _ICON.format('<rect width="32" height="32" rx="6" fill="#007acc"/><path d="M22 6l-11 10 11 10V6z'
                             'M11 16L6 12v8z" fill="#fff"/>'),
        "docs_url": "https://coder.com/docs/code-server", "version": "4.100.3",
        "base_prefix": False, "health_path": "/healthz",
        "min_memory": "1Gi", "min_cpu": "500m",  # its upstream asks for 1 GB (and 2 cores for comfort)
        # its install scripts fetch from GitHub: scripts/install-code-server.sh does their work from the registry
        "local": {"npm": "code-server@4.100.3",
                  "npm_setup": "sh \"$HUBFRONT_SCRIPTS/install-code-server.sh\" \"$PWD\" 4.100.3",
                  "command": "mkdir -p {data} && exec code-server --auth none --bind-addr {host}:{port} "
                             "--disable-telemetry --disable-update-check --user-data-dir {data}/user-data "
                             "--extensions-dir {data}/extensions {shared}"},
        "kubernetes": {"image": "codercom/code-server:4.100.3", "command": ["code-server"],
                       "args": ["--auth", "none", "--bind-addr", "0.0.0.0:{port}", "--disable-telemetry",
                                "--user-data-dir", "{data}/user-data", "{shared}"]},
    },
    # documented templates: an operator enables them by name (c.Apps.enabled)
    "label-studio": {
        "name": "label-studio", "display_name": "Label Studio",
        "description": "Data labelling for images, text and audio; projects are kept in the group's storage.",
        "icon": _ICON.format('<rect width="32" height="32" rx="6" fill="#ff7557"/><path d="M9 8h4v12h10v4H9z" '
                             'fill="#fff"/>'),
        "docs_url": "https://labelstud.io/guide/", "version": _LABEL_STUDIO,
        "env": [{"name": "LABEL_STUDIO_USERNAME", "default": "admin@example.org",
                 "description": "The first user's login"},
                {"name": "LABEL_STUDIO_PASSWORD", "description": "The first user's password", "secret": True}],
        "base_prefix": False, "health_path": "/health",
        "min_memory": "2Gi", "min_cpu": "1",  # a Django server and its workers; more for large projects
        "local": {"pip": [f"label-studio=={_LABEL_STUDIO}"], "command": _LABEL_STUDIO_RUN},
        "kubernetes": {"image": f"heartexlabs/label-studio:{_LABEL_STUDIO}", "command": ["/bin/sh", "-c"],
                       "args": [_LABEL_STUDIO_RUN]},
    },
    "tensorboard": {
        "name": "tensorboard", "display_name": "TensorBoard",
        "description": "TensorBoard over a log folder of the group's storage (env LOGDIR, relative to it).",
        "icon": _ICON.format('<rect width="32" height="32" rx="6" fill="#ff6f00"/><path d="M16 5l10 6v10l-10 6'
                             '-10-6V11z" fill="#fff"/>'),
        "docs_url": "https://www.tensorflow.org/tensorboard", "version": _TENSORBOARD,
        "env": [{"name": "LOGDIR", "default": "logs", "description": "Log folder, relative to the group's storage"}],
        "health_path": "/",
        "min_memory": "1Gi", "min_cpu": "500m",  # it holds the event files it shows in memory
        "local": {"pip": [f"tensorboard=={_TENSORBOARD}"], "command": _TENSORBOARD_RUN},
        # TensorFlow's image of the same version (its TensorBoard is of that version)
        "kubernetes": {"image": f"tensorflow/tensorflow:{_TENSORBOARD}", "command": ["/bin/sh", "-c"],
                       "args": [_TENSORBOARD_RUN]},
    },
}
DEFAULT_ENABLED = ("mlflow", "streamlit", "code-server")
