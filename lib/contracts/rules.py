"""The facts the parameters and the quality checks are held to, stated once and without Spark.

The source columns, the data-quality rules with their actions and targets, and the landing glob's
syntax: `lib.contracts.params` validates parameters against them, `lib.transforms.quality` and
`lib.transforms.landing_files` apply them, and the dashboard shows them. Nothing here imports
pyspark, so loading and validating a parameter file needs no Spark installation.
"""

from __future__ import annotations

import dataclasses
import re

from lib.contracts.tables import SOURCE_FIELDS

# The nine columns of a REES46 source line, in the file's order (the registry's source fields).
SOURCE_COLUMNS: tuple[str, ...] = tuple(column.name for column in SOURCE_FIELDS)

ACTIONS = ("drop", "warn", "fail")


@dataclasses.dataclass(frozen=True)
class Expectation:
    """A named SQL condition that a valid row satisfies; `{max_price}` is filled from parameters."""

    name: str
    condition: str
    description: str


# The data-quality rules silver applies and the report reads; adding a rule is one line here.
EXPECTATIONS: tuple[Expectation, ...] = (
    Expectation("valid_event_time", "event_time IS NOT NULL", "event_time is present and parses"),
    Expectation(
        "valid_event_type",
        "event_type IN ('view', 'cart', 'remove_from_cart', 'purchase')",
        "event_type is one of view, cart, remove_from_cart, purchase",
    ),
    Expectation("valid_product_id", "product_id IS NOT NULL AND product_id > 0", "product_id is a positive id"),
    Expectation("valid_user_id", "user_id IS NOT NULL AND user_id > 0", "user_id is a positive id"),
    Expectation(
        "valid_price",
        "price IS NOT NULL AND price >= 0 AND price <= {max_price}",
        "price is between 0 and max_price",
    ),
    Expectation("parseable_record", "_rescued_data IS NULL", "every field of the source line parsed"),
)
RULE_NAMES: tuple[str, ...] = tuple(rule.name for rule in EXPECTATIONS)

# A run's quality score (rows passing every rule / rows evaluated, in percent) must exceed this.
QUALITY_SCORE_TARGET_PCT = 99.0
# The quality metrics a run is judged by: metric, the dq_metrics rule it is read from, target
# (the failed share of rows, but for the score itself).
QUALITY_METRICS: tuple[tuple[str, str, str], ...] = (
    ("Null event_time", "valid_event_time", "0%"),
    ("Invalid event_type", "valid_event_type", "0%"),
    ("Negative prices", "negative_price", "0%"),
    ("Duplicate rate", "duplicate_rate", "0%"),
    ("Overall quality score", "quality_score", f"> {QUALITY_SCORE_TARGET_PCT:g}%"),
)


def glob_regex(glob: str) -> re.Pattern[str]:
    """A glob over paths relative to the landing folder as a regex.

    `*` and `?` stay within one folder, `**/` is any number of folders (none included), `[...]` is
    a character class; the empty glob matches every file.
    """
    if glob == "":
        return re.compile(r".*", re.DOTALL)
    tokens = re.split(r"(\*\*/|\*\*|\*|\?|\[[^\]]+\])", glob)
    translated = {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}
    parts = []
    for token in tokens:
        if token in translated:
            parts.append(translated[token])
        elif len(token) > 2 and token.startswith("[") and token.endswith("]"):
            body = token[1:-1].replace("\\", "\\\\")
            parts.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
        else:
            parts.append(re.escape(token))
    return re.compile("".join(parts), re.DOTALL)
