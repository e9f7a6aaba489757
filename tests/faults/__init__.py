"""Fault tests (marker ``fault``): the service under crashes, restarts and hostile input.

What each fault is and where it is tested:

* a pipeline worker killed with SIGKILL mid-batch: ``tests/jobs/test_crash.py``;
* Redis restarted (killed, and shut down cleanly): ``test_redis_restart.py``;
* PostgreSQL restarted: ``test_postgres_restart.py``;
* an export target down for a while, then back: ``tests/export/test_delivery.py``
  (``test_a_failing_target_blocks_no_other_and_catches_up`` and the back-off and dead-letter
  tests next to it); the restart tests here also run the default file archive target;
* malformed and hostile input (schemathesis over ``/openapi.json``, random bytes, gzip bombs,
  deep JSON, 100 MB bodies, slow clients, memory): ``test_fuzz.py``.

The restart tests never touch the shared PostgreSQL and Redis that other tests use: they start
private servers on free ports in a temporary directory (``conftest.py``), and are skipped when
the server binaries are not installed.
"""
