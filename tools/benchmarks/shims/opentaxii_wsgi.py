"""OpenTAXII 0.9.3's WSGI app with the one-line workaround for its upstream issue #243."""

import functools
import json
import types

import opentaxii.taxii2.http as taxii2_http
from opentaxii.http import app

taxii2_http.json = types.SimpleNamespace(dumps=functools.partial(json.dumps, default=str))

__all__ = ["app"]
