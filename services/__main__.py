"""``python -m services``: serve the embedded app (all three services) with uvicorn."""

from services.cli import main

main()
