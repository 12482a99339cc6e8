"""Labels and label selectors: Kubernetes' syntax and limits, parsed and matched purely."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from schemas.labels import (
    InvalidLabel,
    Labels,
    Operator,
    Requirement,
    label_key_problem,
    label_value_problem,
    parse_selector,
    selector_matches,
)

_labels: TypeAdapter[dict[str, str]] = TypeAdapter(Labels)


@pytest.mark.parametrize(
    "key", ["env", "a", "team_1", "app.kubernetes.io/name", "example.com/x-y", "A" * 63]
)
def test_valid_label_keys(key: str) -> None:
    assert label_key_problem(key) is None


@pytest.mark.parametrize(
    "key",
    ["", "-env", "env-", "a b", "A" * 64, "/name", "Example.com/x", "ex_ample.com/x", "x/", "é"],
)
def test_invalid_label_keys(key: str) -> None:
    assert label_key_problem(key) is not None


@pytest.mark.parametrize("value", ["", "prod", "v1.2.3", "a_b-c", "Z" * 63])
def test_valid_label_values(value: str) -> None:
    assert label_value_problem(value) is None


@pytest.mark.parametrize("value", ["-prod", "prod.", "a b", "x" * 64, "a/b"])
def test_invalid_label_values(value: str) -> None:
    assert label_value_problem(value) is not None


def test_labels_type_names_the_bad_key() -> None:
    assert _labels.validate_python({"team": "data", "env": ""}) == {"team": "data", "env": ""}
    with pytest.raises(ValidationError, match="label key '-x'"):
        _labels.validate_python({"-x": "y"})
    with pytest.raises(ValidationError, match="label 'env'"):
        _labels.validate_python({"env": "prod!"})
    with pytest.raises(ValidationError):
        _labels.validate_python({f"k{i}": "v" for i in range(65)})


def test_the_selector_of_the_issue() -> None:
    assert parse_selector("env=prod,team in (data,ml),!deprecated") == (
        Requirement("env", Operator.EQUALS, ("prod",)),
        Requirement("team", Operator.IN, ("data", "ml")),
        Requirement("deprecated", Operator.DOES_NOT_EXIST),
    )


def test_every_operator() -> None:
    assert parse_selector(" a == 1 , b != 2, c notin ( x , y ), d, !e, f=") == (
        Requirement("a", Operator.EQUALS, ("1",)),
        Requirement("b", Operator.NOT_EQUALS, ("2",)),
        Requirement("c", Operator.NOT_IN, ("x", "y")),
        Requirement("d", Operator.EXISTS),
        Requirement("e", Operator.DOES_NOT_EXIST),
        Requirement("f", Operator.EQUALS, ("",)),
    )
    assert parse_selector("") == ()


@pytest.mark.parametrize(
    "text",
    [
        "a=b c",
        "a in ()",
        "a in (b",
        "a in b",
        "!",
        "a=(",
        "a,",
        ",a",
        "a=b,,c",
        "-a=b",
        "a=-b",
        "a notin (x,-y)",
        "a < 3",
        "x" * 2001,
    ],
)
def test_malformed_selectors_are_refused(text: str) -> None:
    with pytest.raises(InvalidLabel):
        parse_selector(text)


def test_matching_follows_kubernetes() -> None:
    prod_data = {"env": "prod", "team": "data"}
    assert selector_matches(parse_selector("env=prod,team in (data,ml),!deprecated"), prod_data)
    assert not selector_matches(
        parse_selector("env=prod,!deprecated"), prod_data | {"deprecated": ""}
    )
    assert not selector_matches(parse_selector("team in (web)"), prod_data)
    # `!=` and `notin` also match routines that lack the key.
    assert selector_matches(parse_selector("tier!=gold"), prod_data)
    assert selector_matches(parse_selector("tier notin (gold)"), prod_data)
    assert not selector_matches(parse_selector("env notin (prod,dev)"), prod_data)
    assert selector_matches(parse_selector("env"), prod_data)
    assert not selector_matches(parse_selector("tier"), prod_data)
    assert selector_matches(parse_selector(""), None)
    assert not selector_matches(parse_selector("env=prod"), None)
