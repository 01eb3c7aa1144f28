"""The SSH gateway (issue 26): ``ssh -p 8022 <user>[+<group>]@<host>`` into the user's running notebook server.

A managed service of the hub (``python -m hub_ext.ssh``, :mod:`.service`), built on asyncssh. Sign-in with a
key from the SSH keys page or a hub API token (:mod:`.server`, throttled like the login page); the session
lands in the notebook server of the user's working group or the one named (:mod:`.target`) and runs there
as the user's OS account, in the server's cgroup and network namespace (:mod:`.session`, through
``hub_ext.isolation``): a shell, a command, or SFTP (so scp and rsync too). :mod:`.keys` and :mod:`.hostkeys`
are the logic the portal's SSH keys page uses as well.
"""
