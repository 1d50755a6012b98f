"""Broker performance (经纪业绩): what a transfer institution, sub-center or the center achieved by brokering.

Reads proposals (made, agreed, declined, withdrawn, expired), contracts concluded from its deals, and the contract
statistics of its broker subtree — the same query the statistics' broker_org filter runs, so the amounts are
equal to the fen. Owns no table. Depends on proposals, contracts, stats and the directory; nothing depends on it.
"""
