"""OpenAPI operations of the admins' maintenance (issue 13): quota recompute, runner health, clean now."""

from __future__ import annotations

from ...bodies import NoFields
from .model import DENIED, INVALID, PORTAL, Operation

BASE = f"{PORTAL}/maintenance"
ADMINS = DENIED + " (hub admins only)"
SCOPE = "admin:servers"

OPERATIONS: tuple[Operation, ...] = (
    Operation("get", f"{BASE}/health", "The runner's health and queues, and the idle culler's last pass", "maintenance", SCOPE,
              {200: "`{runner: {configured, up, last_pass, message}, queues: {pending_jobs, running_jobs, "
                    "jobs_to_remove, deployments_in_progress, git_datasets, git_datasets_due, last_job_update, "
                    "last_deployment_update}, retention: {retention_days, keep_per_group}}`", 403: ADMINS}),
    Operation("post", f"{BASE}/recompute", "Recompute quota use: drop reservations of workloads that are gone",
              "maintenance", SCOPE,
              {200: "`{removed: [{kind, workload_id, username, group, cpu, memory, gpu, gpu_devices, created, text: {cpu, memory, gpu}}]}`",
               400: INVALID, 403: ADMINS}, body=NoFields, body_required=False,
              description="Notebook servers the hub neither runs nor is starting, jobs not Pending/Preparing/"
                          "Running, deployment replicas of a deployment gone, stopped or at another revision."),
    Operation("post", f"{BASE}/clean", "Clean now: finished jobs past the retention are handed to the runner",
              "maintenance", SCOPE,
              {200: "`{marked: [{id, name, group, username, phase, finished}], retention_days, keep_per_group}`",
               400: INVALID, 403: ADMINS}, body=NoFields, body_required=False,
              description="The runner removes them (rows, logs, artifacts, leftovers) in its next pass, "
                          "which this call starts."),
    Operation("get", f"{BASE}/environments", "Built image environments and whether anything uses them",
              "maintenance", SCOPE,
              {200: "`{environments: [{name, root, size, ready, used, reason}]}`", 403: ADMINS},
              description="Used: an image of the catalog or of a group has it, it is not finished, a running "
                          "process runs from it, or it changed in the last hour."),
    Operation("post", f"{BASE}/environments/clean", "Remove the built environments nothing uses", "maintenance",
              SCOPE, {200: "`{removed: [{name, size, ready, used, reason}]}`", 400: INVALID, 403: ADMINS},
              body=NoFields, body_required=False),
)
