"""organisations: tenants, members and roles, API keys, app tokens and the event log."""
