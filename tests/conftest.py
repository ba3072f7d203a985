from __future__ import annotations

import os

# The REST client honours proxy variables; tests only ever talk to loopback.
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
