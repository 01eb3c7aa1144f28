# Hubfront: `make run` starts the portal on http://127.0.0.1:8000, `make test` runs every test.
# Both set everything up first: the venv, the Python and npm packages, the databases.

# workloads run as their owners' OS accounts with the hub's Python: take one they can reach
PYTHON ?= $(shell python3 scripts/workload_python.py /usr/bin/python3 python3)
VENV := .venv
BIN := $(VENV)/bin
export HUBFRONT_DATA_DIR ?= $(CURDIR)/data
export HUBFRONT_PORT ?= 8000
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(BIN):$(PATH)
CHROMIUM ?= /usr/bin/chromium
# test files run in parallel worker processes (most tests wait on real servers, not the CPU)
TEST_WORKERS ?= 3

.PHONY: run test bench setup setup-test db chromium os-tools clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.run-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e . "jupyterlab>=4.2,<5"
	touch $@

$(VENV)/.test-installed: pyproject.toml $(VENV)/.run-installed
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

node_modules/.installed: package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

db: $(VENV)/.run-installed
	mkdir -p "$(HUBFRONT_DATA_DIR)"
	$(BIN)/hubfront db upgrade

setup: $(VENV)/.run-installed node_modules/.installed db os-tools

setup-test: setup $(VENV)/.test-installed chromium

# Debian's chromium drives the browser tests (Playwright cannot download its own here).
chromium:
	@test -x $(CHROMIUM) || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

# Group storage shares files through POSIX ACLs (setfacl) and git datasets clone with git; the
# code-server app builds native modules (a toolchain, Kerberos headers) and uses the machine's
# ripgrep (scripts/install-code-server.sh); each workload's network namespace is made with
# iproute2 and kept apart by nftables; the SSH gateway runs OpenSSH's sftp-server as the user (scp and
# rsync need their binaries too, and the tests drive Debian's ssh client). Installed where the hub runs
# as root (isolated workloads); as another user they are not needed.
os-tools:
	@test "$$(id -u)" != 0 || (test -x /usr/bin/setfacl && test -x /usr/bin/git && test -x /usr/bin/rg && \
		test -f /usr/include/gssapi/gssapi.h && test -x /usr/bin/g++ && test -x /usr/sbin/nft && \
		test -x /usr/sbin/ip && test -x /usr/bin/ssh && test -x /usr/lib/openssh/sftp-server && \
		test -x /usr/bin/rsync) || \
		(apt-get update -qq && apt-get install -y -qq acl git ripgrep libkrb5-dev build-essential python3 \
		nftables iproute2 openssh-client openssh-sftp-server rsync >/dev/null)

run: setup
	$(BIN)/jupyterhub -f jupyterhub_config.py

test: setup-test
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -ra -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

bench: setup-test bench/.sshd
	$(BIN)/python -m bench $(BENCH_ARGS)

# The sftp benchmark's baseline is OpenSSH's own sshd on a loopback port: unpacked here from Debian's
# package (no service installed or started); without it the baseline is a plain file copy.
bench/.sshd:
	@test -x /usr/sbin/sshd || (mkdir -p $@.tmp && cd $@.tmp && apt-get download openssh-server >/dev/null 2>&1 && \
		dpkg-deb -x openssh-server_*.deb . && rm -f openssh-server_*.deb) || echo "no sshd: the sftp bench compares with a file copy"
	@mkdir -p $@.tmp && rm -rf $@ && mv $@.tmp $@

clean:
	rm -rf $(VENV) node_modules data
