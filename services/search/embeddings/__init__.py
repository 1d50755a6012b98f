"""Semantic search: embedders, the stored document vectors, the background embedding job and its status."""
