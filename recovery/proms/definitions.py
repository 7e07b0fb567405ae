"""Instrument definitions: the shipped JSON data, parsed and checked. No database access here.

An instrument is data (``recovery/proms/instruments/<code>.json``): ten items with six ordered
options, the scoring rule, the MCID/SCB thresholds and the LOINC codes, every number and code with its
source and confidence. The data migration stores that JSON on ``Instrument`` rows; this module turns
it into immutable typed objects for scoring and rendering, and validates a clinic's licensed wording
(``InstrumentText``) against the instrument's structure.

Language fallback when rendering: the clinic's licensed text in the requested language, else our
own wording in that language, else our own English wording.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final

INSTRUMENTS_DIR: Final = Path(__file__).resolve().parent / "instruments"
DEFAULT_LANGUAGE: Final = "en"
CONFIDENCE_LEVELS: Final = frozenset({"H", "M", "L", "-"})
THRESHOLD_KINDS: Final = ("mcid", "scb")
MAX_TEXT_LENGTH: Final = 2000


class DefinitionError(ValueError):
    """Instrument data (shipped or a clinic's licensed text) does not have the required shape."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True)
class Option:
    value: int
    text: Mapping[str, str]


@dataclass(frozen=True)
class Item:
    key: str
    topic: str
    loinc: str | None
    text: Mapping[str, str]
    options: tuple[Option, ...]


@dataclass(frozen=True)
class ScoringRule:
    item_min: int
    item_max: int
    max_missing: int
    rule: str
    source: str
    confidence: str
    #: The scale change from baseline is measured on, as the threshold sources state it.
    comparison_scale: str
    #: comparison value = percentage x factor (1 for ODI percent, 0.5 for NDI 0-50 points).
    comparison_factor: Decimal
    comparison_label: str


@dataclass(frozen=True)
class Threshold:
    kind: str
    value: Decimal
    scale: str
    source: str
    confidence: str
    note: str


@dataclass(frozen=True)
class InstrumentDefinition:
    code: str
    version: str
    name: str
    title: Mapping[str, str]
    region: str
    license_note: str
    scoring: ScoringRule
    thresholds: Mapping[str, Threshold]
    loinc: Mapping[str, Any]
    items: tuple[Item, ...]

    @property
    def item_keys(self) -> tuple[str, ...]:
        return tuple(item.key for item in self.items)


@dataclass(frozen=True)
class RenderedOption:
    value: int
    text: str


@dataclass(frozen=True)
class RenderedItem:
    key: str
    position: int
    topic: str
    loinc: str | None
    text: str
    options: tuple[RenderedOption, ...]


def _text(value: Any, where: str, problems: list[str]) -> str:
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{where}: must be a non-empty string.")
        return ""
    if len(value) > MAX_TEXT_LENGTH:
        problems.append(f"{where}: longer than {MAX_TEXT_LENGTH} characters.")
    return value


def _texts(value: Any, where: str, problems: list[str]) -> dict[str, str]:
    if not isinstance(value, Mapping) or DEFAULT_LANGUAGE not in value:
        problems.append(f"{where}: must map language codes to text and include '{DEFAULT_LANGUAGE}'.")
        return {}
    return {str(lang): _text(text, f"{where}.{lang}", problems) for lang, text in value.items()}


def _decimal(value: Any, where: str, problems: list[str]) -> Decimal:
    # Thresholds are strings in the JSON so that 12.8 stays exactly 12.8.
    try:
        if not isinstance(value, str):
            raise InvalidOperation
        return Decimal(value)
    except InvalidOperation:
        problems.append(f'{where}: must be a decimal written as a string, e.g. "12.8".')
        return Decimal(0)


def _sourced(value: Any, where: str, problems: list[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        problems.append(f"{where}: must be an object.")
        return {}
    _text(value.get("source"), f"{where}.source", problems)
    if value.get("confidence") not in CONFIDENCE_LEVELS:
        problems.append(f"{where}.confidence: must be one of {sorted(CONFIDENCE_LEVELS)}.")
    return value


def parse_definition(data: Mapping[str, Any]) -> InstrumentDefinition:
    """Parse and check one instrument's data; every problem is reported at once."""
    problems: list[str] = []
    code = _text(data.get("code"), "code", problems)
    scoring_data = _sourced(data.get("scoring"), "scoring", problems)
    item_min, item_max = scoring_data.get("item_min"), scoring_data.get("item_max")
    max_missing = scoring_data.get("max_missing")
    if not (isinstance(item_min, int) and isinstance(item_max, int) and item_min < item_max):
        problems.append("scoring: item_min and item_max must be integers with item_min < item_max.")
        item_min, item_max = 0, 0
    if not isinstance(max_missing, int) or max_missing < 0:
        problems.append("scoring.max_missing: must be a whole number of at least 0.")
        max_missing = 0
    scoring = ScoringRule(
        item_min=item_min,
        item_max=item_max,
        max_missing=max_missing,
        rule=_text(scoring_data.get("rule"), "scoring.rule", problems),
        source=str(scoring_data.get("source", "")),
        confidence=str(scoring_data.get("confidence", "")),
        comparison_scale=_text(scoring_data.get("comparison_scale"), "scoring.comparison_scale", problems),
        comparison_factor=_decimal(
            scoring_data.get("comparison_factor"), "scoring.comparison_factor", problems
        ),
        comparison_label=_text(scoring_data.get("comparison_label"), "scoring.comparison_label", problems),
    )

    thresholds: dict[str, Threshold] = {}
    raw_thresholds = data.get("thresholds")
    if not isinstance(raw_thresholds, Mapping):
        problems.append("thresholds: must be an object.")
        raw_thresholds = {}
    for kind in THRESHOLD_KINDS:
        entry = _sourced(raw_thresholds.get(kind), f"thresholds.{kind}", problems)
        if not entry:
            continue
        scale = _text(entry.get("scale"), f"thresholds.{kind}.scale", problems)
        if scale and scale != scoring.comparison_scale:
            problems.append(
                f"thresholds.{kind}.scale: must be the comparison scale '{scoring.comparison_scale}'."
            )
        thresholds[kind] = Threshold(
            kind=kind,
            value=_decimal(entry.get("value"), f"thresholds.{kind}.value", problems),
            scale=scale,
            source=str(entry.get("source", "")),
            confidence=str(entry.get("confidence", "")),
            note=str(entry.get("note", "")),
        )

    loinc = data.get("loinc")
    if not isinstance(loinc, Mapping):
        problems.append("loinc: must be an object.")
        loinc = {}
    for part in ("panel", "score", "items"):
        _sourced(loinc.get(part), f"loinc.{part}", problems)

    items: list[Item] = []
    raw_items = data.get("items")
    if not isinstance(raw_items, list) or not raw_items:
        problems.append("items: must be a non-empty list.")
        raw_items = []
    expected_values = list(range(item_min, item_max + 1))
    for index, raw in enumerate(raw_items):
        where = f"items[{index}]"
        if not isinstance(raw, Mapping):
            problems.append(f"{where}: must be an object.")
            continue
        options_raw = raw.get("options")
        options: list[Option] = []
        if not isinstance(options_raw, list):
            problems.append(f"{where}.options: must be a list.")
            options_raw = []
        for position, option in enumerate(options_raw):
            if not isinstance(option, Mapping):
                problems.append(f"{where}.options[{position}]: must be an object.")
                continue
            value = option.get("value")
            if isinstance(value, bool) or not isinstance(value, int):
                problems.append(f"{where}.options[{position}].value: must be a whole number.")
                value = -1
            options.append(
                Option(
                    value=value,
                    text=_texts(option.get("text"), f"{where}.options[{position}].text", problems),
                )
            )
        if [option.value for option in options] != expected_values:
            problems.append(f"{where}.options: values must be {expected_values} in order.")
        loinc_code = raw.get("loinc")
        if loinc_code is not None and not isinstance(loinc_code, str):
            problems.append(f"{where}.loinc: must be a string or null.")
        items.append(
            Item(
                key=_text(raw.get("key"), f"{where}.key", problems),
                topic=_text(raw.get("topic"), f"{where}.topic", problems),
                loinc=loinc_code if isinstance(loinc_code, str) else None,
                text=_texts(raw.get("text"), f"{where}.text", problems),
                options=tuple(options),
            )
        )
    keys = [item.key for item in items]
    if len(set(keys)) != len(keys):
        problems.append("items: keys must be unique.")
    if max_missing >= len(items) and items:
        problems.append("scoring.max_missing: must leave at least one answered item.")

    title = _texts(data.get("title"), "title", problems)
    version = _text(data.get("version"), "version", problems)
    name = _text(data.get("name"), "name", problems)
    region = _text(data.get("region"), "region", problems)
    license_note = _text(data.get("license_note"), "license_note", problems)

    if problems:
        raise DefinitionError([f"{code or '?'}: {problem}" for problem in problems])
    return InstrumentDefinition(
        code=code,
        version=version,
        name=name,
        title=title,
        region=region,
        license_note=license_note,
        scoring=scoring,
        thresholds=thresholds,
        loinc=loinc,
        items=tuple(items),
    )


def shipped_instruments() -> list[dict[str, Any]]:
    """The raw JSON of every shipped instrument, checked (a malformed file fails loudly)."""
    shipped: list[dict[str, Any]] = []
    for path in sorted(INSTRUMENTS_DIR.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        parse_definition(data)
        shipped.append(data)
    return shipped


def validate_text_override(definition: InstrumentDefinition, items: Any) -> list[dict[str, Any]]:
    """Check a clinic's licensed wording against the instrument; return it normalised.

    The wording must cover the same item keys in the same order, with one option text per option
    (the option values themselves, and therefore scoring, never change).
    """
    problems: list[str] = []
    if not isinstance(items, list):
        raise DefinitionError(["items: must be a list of objects with key, text and options."])
    expected = definition.item_keys
    got = tuple(item.get("key") if isinstance(item, Mapping) else None for item in items)
    if got != expected:
        problems.append(f"items: keys must be exactly {list(expected)} in this order; got {list(got)}.")
    normalised: list[dict[str, Any]] = []
    for index, (raw, item) in enumerate(zip(items, definition.items, strict=False)):
        where = f"items[{index}] ({item.key})"
        if not isinstance(raw, Mapping):
            problems.append(f"{where}: must be an object.")
            continue
        unknown = sorted(set(raw) - {"key", "text", "options"})
        if unknown:
            problems.append(f"{where}: unknown fields {unknown}.")
        text = _text(raw.get("text"), f"{where}.text", problems)
        options = raw.get("options")
        if not isinstance(options, list) or len(options) != len(item.options):
            problems.append(
                f"{where}.options: must be a list of {len(item.options)} texts, lowest score first."
            )
            options = []
        option_texts = [_text(option, f"{where}.options[{i}]", problems) for i, option in enumerate(options)]
        normalised.append({"key": item.key, "text": text, "options": option_texts})
    if problems:
        raise DefinitionError(problems)
    return normalised


def render_items(
    definition: InstrumentDefinition, language: str, override: Sequence[Mapping[str, Any]] | None
) -> tuple[RenderedItem, ...]:
    """The items in one language: the clinic's licensed text when given, else our own wording."""
    rendered: list[RenderedItem] = []
    for position, item in enumerate(definition.items, start=1):
        licensed = override[position - 1] if override is not None else None
        if licensed is not None:
            text = str(licensed["text"])
            option_texts = [str(option) for option in licensed["options"]]
        else:
            text = item.text.get(language) or item.text[DEFAULT_LANGUAGE]
            option_texts = [
                option.text.get(language) or option.text[DEFAULT_LANGUAGE] for option in item.options
            ]
        rendered.append(
            RenderedItem(
                key=item.key,
                position=position,
                topic=item.topic,
                loinc=item.loinc,
                text=text,
                options=tuple(
                    RenderedOption(value=option.value, text=option_text)
                    for option, option_text in zip(item.options, option_texts, strict=True)
                ),
            )
        )
    return tuple(rendered)


def language_available(definition: InstrumentDefinition, language: str) -> bool:
    """Whether our own wording exists in ``language`` for every item and option."""
    return all(
        language in item.text and all(language in option.text for option in item.options)
        for item in definition.items
    )
