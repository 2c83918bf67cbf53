"""Tickets: the desk, routing, priority, regions, incidents, the deadline clock."""
