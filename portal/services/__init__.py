"""Every state change of the portal's domain, one module per domain: organisations (members, invitations),
catalog (APIs, plans) and applications (subscriptions, quota blocks)."""
