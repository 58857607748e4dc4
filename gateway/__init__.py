"""Portico edge gateway: NGINX + Lua data plane (templates, Lua modules, launcher)."""
