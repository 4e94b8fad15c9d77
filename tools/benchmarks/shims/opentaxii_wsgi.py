"""OpenTAXII 0.9.3's WSGI app with the one-line workaround for its upstream issue #243.

Runs inside OpenTAXII's own virtualenv, never in intelshare's. OpenTAXII 0.9.3
serialises TAXII 2.1 responses with ``json.dumps`` and no default, so every
response carrying a UUID (the status of each POST, the collections list)
answers HTTP 500 after the objects were stored. The widely used workaround
(``default=str``, merged upstream after 0.9.3) changes no behaviour we measure.
"""

import functools
import json
import types

import opentaxii.taxii2.http as taxii2_http
from opentaxii.http import app

taxii2_http.json = types.SimpleNamespace(dumps=functools.partial(json.dumps, default=str))

__all__ = ["app"]
