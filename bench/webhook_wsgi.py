"""WSGI entry for bench/webhook_bench.py: the Care Desk app with a benchmark instance folder.

    BENCH_INSTANCE=/tmp/x gunicorn -w 2 -b 127.0.0.1:PORT bench.webhook_wsgi:app

``create_app`` reads ``$BENCH_INSTANCE/config.py`` (database URL, engine options such as
the PostgreSQL ``search_path``, the Twilio auth token, ``CARE_PUBLIC_BASE_URL``), which
the benchmark writes; nothing else is overridden.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from care import create_app  # noqa: E402

app = create_app({"INSTANCE_PATH": os.environ["BENCH_INSTANCE"]})

if os.environ.get("BENCH_NO_APPLY"):  # webhook_bench.py --no-apply: the ingest alone
    from care import applier

    applier.submit = lambda _app, _attempt_id: None

if os.environ.get("BENCH_APP_LOG"):  # webhook_bench.py --app-log FILE: the app's own log lines
    import logging

    logging.basicConfig(filename=os.environ["BENCH_APP_LOG"], level=logging.DEBUG, format="%(asctime)s %(process)d %(name)s %(message)s")
    logging.getLogger("care").setLevel(logging.DEBUG)
