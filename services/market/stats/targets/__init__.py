"""Statistics targets as data: what a region or an organization subtree should reach in a period, and the
progress toward it (models, repository, service, schemas, router — see docs/contracts.md, "Targets")."""
