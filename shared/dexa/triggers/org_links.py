"""Moved to dexa.auth.org_links (identity: which org an outside event belongs to, and who acts for it).

TODO(issue 19.5): re-exported only for adapters/aws/webhooks.py, whose owner is reworking that package; point it
at dexa.auth.org_links and delete this module.
"""

from dexa.auth.org_links import slack_reviewer

__all__ = ["slack_reviewer"]
