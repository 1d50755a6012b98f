"""Rebuild an engine's indexes from the market service's public lists, then swap them in without downtime."""
