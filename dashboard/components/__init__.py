"""Small reusable widgets, each a `show(...)` function that owns its session-state key."""
