"""The runner service (issue 10): reconciles jobs, schedules and deployments. Being built."""
