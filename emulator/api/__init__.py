"""The emulated Broadcast and Voice API: routes, handlers, dialect normaliser, middleware."""
