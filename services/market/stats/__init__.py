"""Contract statistics: rollup cells maintained with every registration, amendment, revocation and import."""
