"""Jobs and recurring jobs: what the hub and the runner both need (no tornado here).

- ``requests``: the request models (pydantic) that validate API bodies and forms,
  and resolve a job template against the group's policy and the catalog;
- ``records``: the jobs and schedules in the portal DB, who may see and change them;
- ``logs`` and ``artifacts``: what the runner persists for a job.
"""
