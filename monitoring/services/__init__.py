"""Writes of monitoring, one module per concern; views and tasks import the module they need."""
