"""Listings: achievements (科技成果) and demands (技术需求), one implementation for both kinds.

Interface: other domains call ``services.market.listings.service`` (reads, writes, lifecycle transitions, expiry,
bulk import, following owner changes from the directory) and name a kind by ``kinds.ACHIEVEMENT`` /
``kinds.DEMAND``; reads that join listings go through ``repository.ListingRepository``. Each change is published
to search through the market outbox in the change's own transaction.
"""
