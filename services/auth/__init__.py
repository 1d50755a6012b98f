"""The auth service.

Organizations of the 1+4+N technology transfer system, their users and roles, OAuth2 tokens and the JWKS that every service verifies tokens with.
"""
