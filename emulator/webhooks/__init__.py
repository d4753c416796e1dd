"""Webhooks: event payload builders, encryption and the delivery dispatcher."""
