"""System Resources: nodes, sessions and utilisation (admins), own sessions (users)."""
