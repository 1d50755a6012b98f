"""The project's own common kernel: what every techmarket service needs and nothing domain-specific.

Services never import each other; what two of them both need lives here.
"""
