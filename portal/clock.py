"""The portal's one clock for dates: every stored date comes from here.

Day granularity only: no stored date can be matched to network logs, and tests
can move one function instead of many.
"""

from __future__ import annotations

import datetime as dt


def today() -> dt.date:
    """Today's date in UTC."""
    return dt.datetime.now(dt.UTC).date()
