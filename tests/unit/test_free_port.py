"""Ports for the services a hub starts (hub_ext.configure.free_port): one handed out to a process is not handed
to another before its service could bind it (CI: two hubs started side by side got the same runner port, and
the second runner, then its hub, did not start)."""

import socket
import subprocess
import sys

from hub_ext.configure import free_port

from support import REPO

# another process whose first random pick is the port given here, then anything
PICK_SAME = """
import random, sys
from hub_ext import configure
first = [int(sys.argv[1])]
real = random.randint
random.randint = lambda a, b: first.pop() if first else real(a, b)
print(configure.free_port())
"""


def test_a_port_handed_out_is_not_handed_to_another_process():
    port = free_port()
    with socket.socket() as s:  # its service has not bound it yet: the port is still free
        s.bind(("127.0.0.1", port))
    other = subprocess.run([sys.executable, "-c", PICK_SAME, str(port)], cwd=REPO, capture_output=True, text=True,
                           timeout=60)
    assert other.returncode == 0, other.stderr
    assert int(other.stdout) != port


def test_a_port_in_use_is_not_handed_out():
    with socket.socket() as s:
        s.bind(("127.0.0.1", free_port()))
        s.listen()
        taken = s.getsockname()[1]
        other = subprocess.run([sys.executable, "-c", PICK_SAME, str(taken)], cwd=REPO, capture_output=True,
                               text=True, timeout=60)
    assert other.returncode == 0, other.stderr
    assert int(other.stdout) != taken


def test_ports_are_below_the_ephemeral_range():
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low = int(f.read().split()[0])
    ports = {free_port() for _ in range(50)}
    assert len(ports) == 50
    assert all(1024 <= p < low for p in ports)
