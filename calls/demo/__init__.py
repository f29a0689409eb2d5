"""Deterministic demo data: agents, workflows, leads and calls with everything a call carries.

``calls.demo.writer.seed_demo(tenant=…, calls=…, days=…, seed=…, until=…)`` writes ``calls``
calls spread over the ``days`` days before ``until``, with transcripts, collected variables,
executed actions, provider latencies, errors, leads moving through the funnel and the activity
events ingestion would have written for them (the copies and event keys of
``calls.denormalised``, as ingestion writes them).

The same seed, call count, day count and ``until`` give the same call ids, times, agents,
statuses, durations and leads. ``catalogue`` holds the fixed material (names, scripts, weighted
tables), ``plan`` draws from it what to write, ``writer`` writes it.
"""
