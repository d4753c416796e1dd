"""Test-double kit: the pytest plugin and the webhook sink."""
