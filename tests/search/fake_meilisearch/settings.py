"""Index settings of Meilisearch v1.50.0: validation of ``PATCH /indexes/{uid}/settings`` and the stored state.

Modelled on crates/meilisearch-types/src/settings.rs (``Settings<Unchecked>``: every request type denies unknown
fields, each field has its own error code) and the deserr messages the server's tests snapshot
(crates/meilisearch/tests/settings/errors.rs): "Unknown field `x` inside `.typoTolerance`: expected one of ...",
"Invalid value type at `.rankingRules`: expected an array, but found a string: `\"x\"`". Ranking rules are parsed
as milli's ``Criterion::from_str``. Embedders are checked for ``source`` and, for ``userProvided``, ``dimensions``
and the fields that source accepts; other sources are accepted but cannot embed (the fake has no model).
A field sent as ``null`` resets to its default. A settings update is validated when it is received (400) and
applied when its task is processed.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from tests.search.fake_meilisearch.errors import ApiError, kind_of

__all__ = ["DEFAULTS", "merge", "validate"]

# meilisearch-types/src/locales.rs: ISO 639-1 and 639-3 codes, and cmn.
_LOCALE_CODES = """
af afr ak aka am amh ar ara az aze be bel bn ben bg bul ca cat cs ces da dan de deu el ell en eng eo
epo et est fi fin fr fra gu guj he heb hi hin hr hrv hu hun hy hye id ind it ita jv jav ja jpn kn
kan ka kat km khm ko kor la lat lv lav lt lit ml mal mr mar mk mkd my mya ne nep nl nld nb nob or
ori pa pan fa pes pl pol pt por ro ron ru rus si sin sk slk sl slv sn sna es spa sr srp sv swe ta
tam te tel tl tgl th tha tk tuk tr tur uk ukr ur urd uz uzb vi vie yi yid zh zho zu zul cmn
"""
LOCALES = frozenset(_LOCALE_CODES.split())

DEFAULTS: dict[str, Any] = {
    "displayedAttributes": ["*"],
    "searchableAttributes": ["*"],
    "filterableAttributes": [],
    "sortableAttributes": [],
    "foreignKeys": [],
    "rankingRules": ["words", "typo", "proximity", "attributeRank", "sort", "wordPosition", "exactness"],
    "stopWords": [],
    "nonSeparatorTokens": [],
    "separatorTokens": [],
    "dictionary": [],
    "synonyms": {},
    "distinctAttribute": None,
    "proximityPrecision": "byWord",
    "typoTolerance": {
        "enabled": True,
        "minWordSizeForTypos": {"oneTypo": 5, "twoTypos": 9},
        "disableOnWords": [],
        "disableOnAttributes": [],
        "disableOnNumbers": False,
    },
    "faceting": {"maxValuesPerFacet": 100, "sortFacetValuesBy": {"*": "alpha"}},
    "pagination": {"maxTotalHits": 1000},
    "embedders": {},
    "searchCutoffMs": None,
    "localizedAttributes": None,
    "facetSearch": True,
    "prefixSearch": "indexingTime",
    "chat": {},
}

_EMBEDDER_FIELDS = {
    "source",
    "model",
    "revision",
    "pooling",
    "apiKey",
    "dimensions",
    "binaryQuantized",
    "documentTemplate",
    "documentTemplateMaxBytes",
    "url",
    "indexingFragments",
    "searchFragments",
    "request",
    "response",
    "headers",
    "searchEmbedder",
    "indexingEmbedder",
    "distribution",
}
_SOURCES = ("openAi", "huggingFace", "ollama", "userProvided", "rest", "composite")
_USER_PROVIDED_FIELDS = {"source", "dimensions", "distribution", "binaryQuantized"}


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _distance(a: str, b: str) -> int:
    """Optimal string alignment distance (deserr's did-you-mean uses Damerau-Levenshtein)."""
    rows = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        rows[i][0] = i
    for j in range(len(b) + 1):
        rows[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            rows[i][j] = min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                rows[i][j] = min(rows[i][j], rows[i - 2][j - 2] + 1)
    return rows[len(a)][len(b)]


def _did_you_mean(received: str, accepted: list[str]) -> str:
    size = len(received)
    allowed = 0 if size <= 3 else 1 if size <= 7 else 2 if size <= 12 else 3 if size <= 17 else 4 if size <= 24 else 5
    if not allowed:
        return ""
    close = sorted((d, a) for a in accepted if (d := _distance(received, a)) <= allowed)
    return f"did you mean `{close[0][1]}`? " if close else ""


class _Checker:
    def __init__(self, code: str) -> None:
        self.code = code

    def fail(self, message: str) -> ApiError:
        return ApiError(400, self.code, message)

    def type_error(self, location: str, expected: str, value: Any) -> ApiError:
        at = f" at `{location}`" if location else ""
        return self.fail(f"Invalid value type{at}: expected {expected}, but found {kind_of(value)}: `{_dumps(value)}`")

    def unknown_field(self, location: str, key: str, accepted: list[str]) -> ApiError:
        inside = f" inside `{location}`" if location else ""
        listed = ", ".join(f"`{a}`" for a in accepted)
        return self.fail(f"Unknown field `{key}`{inside}: {_did_you_mean(key, accepted)}expected one of {listed}")

    def unknown_value(self, location: str, value: str, accepted: list[str]) -> ApiError:
        listed = ", ".join(f"`{a}`" for a in accepted)
        return self.fail(f"Unknown value `{value}` at `{location}`: expected one of {listed}")

    def invalid(self, location: str, message: str) -> ApiError:
        return self.fail(f"Invalid value at `{location}`: {message}")

    def strings(self, location: str, value: Any) -> list[str]:
        if not isinstance(value, list):
            raise self.type_error(location, "an array", value)
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise self.type_error(f"{location}[{index}]", "a string", item)
        return list(value)

    def boolean(self, location: str, value: Any) -> bool:
        if not isinstance(value, bool):
            raise self.type_error(location, "a boolean", value)
        return value

    def positive(self, location: str, value: Any, *, non_zero: bool = False) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.type_error(location, "a positive integer", value)
        if non_zero and value == 0:
            raise self.invalid(location, "a non-zero integer value lower than `18446744073709551615` was expected")
        return value

    def obj(self, location: str, value: Any, accepted: list[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.type_error(location, "an object", value)
        for key in value:
            if key not in accepted:
                raise self.unknown_field(location, key, accepted)
        return value


def _ranking_rule(checker: _Checker, location: str, rule: Any) -> str:
    if not isinstance(rule, str):
        raise checker.type_error(location, "a string", rule)
    if rule in ("words", "typo", "proximity", "attribute", "attributeRank", "wordPosition", "sort", "exactness"):
        return rule
    field, _, order = rule.rpartition(":")
    if order in ("asc", "desc") and field:
        if field.startswith("_geo"):
            raise checker.invalid(
                location,
                "`_geoPoint` is a reserved keyword and thus can't be used as a ranking rule. `_geoPoint` can only be "
                "used for sorting at search time",
            )
        return rule
    raise checker.invalid(
        location,
        f"`{rule}` ranking rule is invalid. Valid ranking rules are words, typo, sort, proximity, attribute, "
        "exactness and custom ranking rules.",
    )


def _ranking_rules(checker: _Checker, value: Any) -> list[str]:
    if not isinstance(value, list):
        raise checker.type_error(".rankingRules", "an array", value)
    return [_ranking_rule(checker, f".rankingRules[{index}]", rule) for index, rule in enumerate(value)]


def _typo(checker: _Checker, value: Any) -> dict[str, Any]:
    keys = ["enabled", "minWordSizeForTypos", "disableOnWords", "disableOnAttributes", "disableOnNumbers"]
    body = checker.obj(".typoTolerance", value, keys)
    if "enabled" in body and body["enabled"] is not None:
        checker.boolean(".typoTolerance.enabled", body["enabled"])
    sizes = body.get("minWordSizeForTypos")
    if sizes is not None:
        checker.obj(".typoTolerance.minWordSizeForTypos", sizes, ["oneTypo", "twoTypos"])
        for key in ("oneTypo", "twoTypos"):
            if sizes.get(key) is not None:
                number = checker.positive(f".typoTolerance.minWordSizeForTypos.{key}", sizes[key])
                if number > 255:
                    raise checker.type_error(f".typoTolerance.minWordSizeForTypos.{key}", "a positive integer", number)
        one, two = sizes.get("oneTypo"), sizes.get("twoTypos")
        if one is not None and two is not None and one > two:
            raise checker.invalid(
                ".typoTolerance.minWordSizeForTypos",
                "`minWordSizeForTypos` setting is invalid. `oneTypo` and `twoTypos` fields should be between `0` and "
                "`255`, and `twoTypos` should be greater or equals to `oneTypo` but found "
                f"`oneTypo: {one}` and twoTypos: {two}`.",
            )
    for key in ("disableOnWords", "disableOnAttributes"):
        if body.get(key) is not None:
            checker.strings(f".typoTolerance.{key}", body[key])
    if body.get("disableOnNumbers") is not None:
        checker.boolean(".typoTolerance.disableOnNumbers", body["disableOnNumbers"])
    return body


def _faceting(checker: _Checker, value: Any) -> dict[str, Any]:
    body = checker.obj(".faceting", value, ["maxValuesPerFacet", "sortFacetValuesBy"])
    if body.get("maxValuesPerFacet") is not None:
        checker.positive(".faceting.maxValuesPerFacet", body["maxValuesPerFacet"])
    orders = body.get("sortFacetValuesBy")
    if orders is not None:
        if not isinstance(orders, dict):
            raise checker.type_error(".faceting.sortFacetValuesBy", "an object", orders)
        for name, order in orders.items():
            if order not in ("alpha", "count"):
                location = f".faceting.sortFacetValuesBy.{name}"
                if not isinstance(order, str):
                    raise checker.type_error(location, "a string", order)
                raise checker.unknown_value(location, order, ["alpha", "count"])
    return body


def _embedders(checker: _Checker, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise checker.type_error(".embedders", "an object", value)
    for name, config in value.items():
        location = f".embedders.{name}"
        if config is None:
            continue
        body = checker.obj(location, config, sorted(_EMBEDDER_FIELDS, key=list(_EMBEDDER_FIELDS).index))
        source = body.get("source")
        if source is not None and source not in _SOURCES:
            raise checker.unknown_value(f"{location}.source", str(source), list(_SOURCES))
        if source == "userProvided":
            for key in body:
                if key not in _USER_PROVIDED_FIELDS:
                    raise checker.invalid(
                        location,
                        f"`.embedders.{name}`: Field `{key}` unavailable for source `userProvided`.",
                    )
            dimensions = body.get("dimensions")
            if dimensions is None:
                raise checker.invalid(
                    location,
                    f"`.embedders.{name}`: Missing field `dimensions` (note: this field is mandatory for source `userProvided`)",
                )
            if checker.positive(f"{location}.dimensions", dimensions) == 0:
                raise checker.invalid(f"{location}.dimensions", "`dimensions` cannot be zero")
        distribution = body.get("distribution")
        if distribution is not None:
            _distribution(checker, f"{location}.distribution", distribution)
    return value


def _distribution(checker: _Checker, location: str, value: Any) -> None:
    """milli vector/distribution.rs: ``{mean, sigma}``, mean in [0, 1], sigma in ]0, 1]."""
    body = checker.obj(location, value, ["mean", "sigma"])
    for key in ("mean", "sigma"):
        if key not in body:
            raise checker.fail(f"Missing field `{key}` inside `{location}`")
        if isinstance(body[key], bool) or not isinstance(body[key], (int, float)):
            raise checker.type_error(f"{location}.{key}", "a number", body[key])
    if not 0.0 <= body["mean"] <= 1.0:
        raise checker.invalid(location, f"the distribution mean must be in the range [0, 1], got {body['mean']}")
    if not 0.0 < body["sigma"] <= 1.0:
        raise checker.invalid(location, f"the distribution sigma must be in the range ]0, 1], got {body['sigma']}")


def _localized(checker: _Checker, value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise checker.type_error(".localizedAttributes", "an array", value)
    for index, rule in enumerate(value):
        location = f".localizedAttributes[{index}]"
        body = checker.obj(location, rule, ["attributePatterns", "locales"])
        for key in ("attributePatterns", "locales"):
            if key not in body:
                raise checker.fail(f"Missing field `{key}` inside `{location}`")
        checker.strings(f"{location}.attributePatterns", body["attributePatterns"])
        for position, locale in enumerate(checker.strings(f"{location}.locales", body["locales"])):
            if locale not in LOCALES:
                valid = sorted(LOCALES, key=lambda code: (len(code), code))
                raise checker.invalid(
                    f"{location}.locales[{position}]",
                    f"Unsupported locale `{locale}`, expected one of {', '.join(valid)}",
                )
    return value


def _filterable(checker: _Checker, value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise checker.type_error(".filterableAttributes", "an array", value)
    for index, rule in enumerate(value):
        if isinstance(rule, str):
            continue
        checker.obj(f".filterableAttributes[{index}]", rule, ["attributePatterns", "features"])
    return value


def _enum(accepted: list[str]) -> Callable[[_Checker, Any, str], Any]:
    """A string check; with ``accepted``, one of those values."""

    def check(checker: _Checker, value: Any, location: str) -> Any:
        if not isinstance(value, str):
            raise checker.type_error(location, "a string", value)
        if accepted and value not in accepted:
            raise checker.unknown_value(location, value, accepted)
        return value

    return check


_FIELDS: dict[str, tuple[str, Callable[[_Checker, Any], Any]]] = {
    "displayedAttributes": ("invalid_settings_displayed_attributes", lambda c, v: c.strings(".displayedAttributes", v)),
    "searchableAttributes": (
        "invalid_settings_searchable_attributes",
        lambda c, v: c.strings(".searchableAttributes", v),
    ),
    "filterableAttributes": ("invalid_settings_filterable_attributes", _filterable),
    "sortableAttributes": ("invalid_settings_sortable_attributes", lambda c, v: c.strings(".sortableAttributes", v)),
    "foreignKeys": ("invalid_settings_foreign_keys", lambda c, v: v),
    "rankingRules": ("invalid_settings_ranking_rules", lambda c, v: _ranking_rules(c, v)),
    "stopWords": ("invalid_settings_stop_words", lambda c, v: c.strings(".stopWords", v)),
    "nonSeparatorTokens": (
        "invalid_settings_non_separator_tokens",
        lambda c, v: c.strings(".nonSeparatorTokens", v),
    ),
    "separatorTokens": ("invalid_settings_separator_tokens", lambda c, v: c.strings(".separatorTokens", v)),
    "dictionary": ("invalid_settings_dictionary", lambda c, v: c.strings(".dictionary", v)),
    "synonyms": (
        "invalid_settings_synonyms",
        lambda c, v: c.obj(".synonyms", v, list(v) if isinstance(v, dict) else []),
    ),
    "distinctAttribute": ("invalid_settings_distinct_attribute", lambda c, v: _enum([])(c, v, ".distinctAttribute")),
    "proximityPrecision": (
        "invalid_settings_proximity_precision",
        lambda c, v: _enum(["byWord", "byAttribute"])(c, v, ".proximityPrecision"),
    ),
    "typoTolerance": ("invalid_settings_typo_tolerance", _typo),
    "faceting": ("invalid_settings_faceting", _faceting),
    "pagination": (
        "invalid_settings_pagination",
        lambda c, v: {
            k: c.positive(f".pagination.{k}", x, non_zero=True)
            for k, x in c.obj(".pagination", v, ["maxTotalHits"]).items()
            if x is not None
        },
    ),
    "embedders": ("invalid_settings_embedders", _embedders),
    "searchCutoffMs": ("invalid_settings_search_cutoff_ms", lambda c, v: c.positive(".searchCutoffMs", v)),
    "localizedAttributes": ("invalid_settings_localized_attributes", _localized),
    "facetSearch": ("invalid_settings_facet_search", lambda c, v: c.boolean(".facetSearch", v)),
    "prefixSearch": (
        "invalid_settings_prefix_search",
        lambda c, v: _enum(["indexingTime", "disabled"])(c, v, ".prefixSearch"),
    ),
    "chat": ("invalid_settings_index_chat", lambda c, v: c.obj(".chat", v, list(v) if isinstance(v, dict) else [])),
}


def validate(body: Any) -> dict[str, Any]:
    """The settings update as sent (``null`` values kept: they reset); raises the server's 400 for bad input."""
    if not isinstance(body, dict):
        raise ApiError(
            400, "bad_request", f"Invalid value type: expected an object, but found {kind_of(body)}: `{_dumps(body)}`"
        )
    accepted = list(_FIELDS)
    for key in body:
        if key not in _FIELDS:
            raise _Checker("bad_request").unknown_field("", key, accepted)
    for key, value in body.items():
        if value is None:
            continue
        code, check = _FIELDS[key]
        check(_Checker(code), value)
    return body


def merge(current: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """The settings after an update: ``null`` resets a field; objects merge field by field; embedders by name."""
    out = copy.deepcopy(current)
    for key, value in update.items():
        if value is None:
            out[key] = copy.deepcopy(DEFAULTS[key])
        elif key in ("typoTolerance", "faceting", "pagination"):
            merged = dict(out[key])
            for inner, inner_value in value.items():
                merged[inner] = copy.deepcopy(DEFAULTS[key][inner]) if inner_value is None else inner_value
            out[key] = merged
        elif key == "embedders":
            embedders = dict(out["embedders"])
            for name, config in value.items():
                if config is None:
                    embedders.pop(name, None)
                else:
                    embedders[name] = {**embedders.get(name, {}), **config}
            out["embedders"] = embedders
        else:
            out[key] = copy.deepcopy(value)
    return out
