"""Match alerts: who is told when a listing appears that they are looking for. Run by the market worker alone.

Interface::

    service.run_pending(sessionmaker=…, search=SearchClient, settings=…)the worker's alert loop (worker.py)
    service.run_job(session=…, search=…, settings=…, now=…)               claim and run one alert job
    service.send_digests(session=…, now=…)                                the 09:00 Asia/Shanghai daily digests

It sits above the domains it reads: saved_searches (the searches, their hits and the alert jobs that listings
enqueue), matching (similarity, scoring), listings (the demands' ``match_alerts`` flag) and notifications. Nothing
but the worker imports it, so no module imports back into a listing write. See docs/notifications.md.
"""
