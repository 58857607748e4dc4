"""REST views of the portal app, one module per resource family."""
