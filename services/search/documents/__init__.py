"""Ingestion: the batch of upserts and deletes the market outbox relay sends, and the per-document version table."""
