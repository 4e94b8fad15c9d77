"""The one place that decides what a caller may see (DESIGN.md "Sharing policy").

Every partner-facing read of ``ObjectVersion`` starts from ``visible()``;
staff reads start from ``staff_versions()``. Both return a ``View``: the
narrowed queryset, applied in SQL so pages stay full and ``more``/``next``
stay truthful, and the partner's clock (embargo shift, widening reveals).

Each rule exists twice: ``decide()`` in Python (for ``explain`` and as the
property tests' reference) and ``visible_q()`` as SQL; tests keep them equal.
Rules, in the order ``decide()`` applies them:

- validity: outside the agreement's window the partner has no access at all;
- grant: reading needs ``can_read`` on the collection;
- own contributions: a partner always sees what it contributed;
- TLP marking definitions are served to every reader (they reveal nothing);
- TLP ceiling: effective TLP = most restrictive object marking, or the
  collection's default when unmarked; above the ceiling is withheld;
- originator control: another partner's contribution flows only at CLEAR or
  GREEN, or at AMBER when that partner consented; AMBER+STRICT and RED never;
- sightings: another partner's sighting reaches only the partner it is routed to
  (the sighted object's originator, when its sender shares sightings by name);
- types: the allow list (if any) and the deny list;
- embargo: a version is seen ``embargo`` after it was added, and dated so;
- granular markings: a property marked above the ceiling withholds the
  version, or in redact mode removes the property (withheld if required);
- references: a relationship or sighting with an endpoint that is stored
  here but hidden is withheld; a report, grouping, note or opinion loses
  hidden members and is withheld when none remain.
"""

from intelshare.policy.access import (
    catalogue,
    collections,
    opened,
    staff_versions,
    visible,
)
from intelshare.policy.explain import Explanation, explain
from intelshare.policy.rules import (
    STAFF_ACCESS,
    Access,
    Caller,
    Decision,
    Rules,
    VersionFacts,
    compile_rules,
    decide,
)
from intelshare.policy.sql import exempt_versions, newly_visible, to_resend, visible_q
from intelshare.policy.view import Cursor, Row, View

__all__ = [
    "STAFF_ACCESS",
    "Access",
    "Caller",
    "Cursor",
    "Decision",
    "Explanation",
    "Row",
    "Rules",
    "VersionFacts",
    "View",
    "catalogue",
    "collections",
    "compile_rules",
    "decide",
    "exempt_versions",
    "explain",
    "newly_visible",
    "opened",
    "staff_versions",
    "to_resend",
    "visible",
    "visible_q",
]
