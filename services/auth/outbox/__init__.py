"""The organization feed: auth's outbox (``auth_outbox``) and the relay that delivers it to market's directory.

Events are written by services.auth.organizations.service (one per change, in the change's transaction). The
relay is the shared one (shared.outbox.relay) with :func:`relay.organization_document`; it POSTs
``{"documents": [{"op": "upsert", "kind": "organization", "id", "version", "event_type", "fields": {...}}]}`` to
``{AUTH_MARKET_URL}/directory/organizations`` with a client_credentials token of ``auth-relay`` (scope
``market:directory``), at least once, in version order per organization. It runs in the auth app's lifespan when
``AuthSettings.relay_runs_in_app`` (the embedded default), else as its own process: ``techmarket auth relay`` /
SERVICE=auth-relay. ``app.state.relay`` holds it either way in the app, so tests drive it by hand.
"""
