"""What the docker CLI prints: Go templates (--format), tabwriter tables, inspect JSON, humanised units."""
