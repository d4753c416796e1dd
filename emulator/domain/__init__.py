"""The domain: broadcasts and call legs as state machines on the virtual clock (no aiohttp)."""
