"""Model deployments (issue 11): requests, records, limits. The runner reconciles them."""
