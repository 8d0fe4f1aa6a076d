"""Programs that run in a namespace: each module registers its commands."""
