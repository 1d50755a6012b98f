"""The three techmarket services. Each is its own FastAPI app; none imports another's code."""
