"""Staff-side reads of the console (every console view requires ``is_hub_staff``):
nothing here is served to a partner."""

from console.selectors.dashboard import (
    ORIGIN_KINDS,
    FeedHealth,
    IngestDay,
    Traffic,
    feed_health,
    ingested_per_day,
    partners,
    refusals,
    traffic,
    withheld_by_rule,
)
from console.selectors.matrix import Cell, MatrixRow, matrix
from console.selectors.objects import (
    BUNDLE_LIMIT,
    SEARCH_LIMIT,
    Hit,
    ObjectPage,
    Receipt,
    Search,
    names,
    object_page,
    receipts,
    search,
    search_raw,
    tlp_ranks,
)

__all__ = [
    "BUNDLE_LIMIT",
    "ORIGIN_KINDS",
    "SEARCH_LIMIT",
    "Cell",
    "FeedHealth",
    "Hit",
    "IngestDay",
    "MatrixRow",
    "ObjectPage",
    "Receipt",
    "Search",
    "Traffic",
    "feed_health",
    "ingested_per_day",
    "matrix",
    "names",
    "object_page",
    "partners",
    "receipts",
    "refusals",
    "search",
    "search_raw",
    "tlp_ranks",
    "traffic",
    "withheld_by_rule",
]
