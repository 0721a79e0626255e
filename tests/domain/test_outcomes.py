"""The outcome vocabulary per task type and its validation (care.domain.outcomes)."""

from __future__ import annotations

import pytest

from care.domain.lapsed import LOSS_REASONS
from care.domain.outcomes import (
    OUTCOMES,
    Booking,
    OutcomeInvalid,
    note_required_by,
    note_rules,
    outcome_spec,
    outcomes_for,
    validate_outcome,
)
from care.domain.task_rules import TaskType


def errors_of(task_type, code, values=None, note=None) -> dict:
    with pytest.raises(OutcomeInvalid) as info:
        validate_outcome(task_type, code, values or {}, note)
    return info.value.errors


def test_every_task_type_has_outcomes_and_a_not_reached_that_keeps_the_task_open():
    assert set(OUTCOMES) == {t.value for t in TaskType}
    for task_type, specs in OUTCOMES.items():
        codes = [s.code for s in specs]
        assert len(codes) == len(set(codes)), task_type
        not_reached = outcome_spec(task_type, "not_reached")
        assert not_reached is not None and not not_reached.closes_task and not not_reached.reached
        assert all(s.closes_task for s in specs if s.code != "not_reached"), task_type


@pytest.mark.parametrize(
    ("task_type", "codes"),
    [
        ("first_service", ["will_come", "serviced_elsewhere", "declined", "not_reached"]),
        ("maintenance", ["will_come", "serviced_elsewhere", "declined", "not_reached"]),
        ("warranty_expiry", ["will_come", "serviced_elsewhere", "declined", "not_reached"]),
        ("inspection", ["will_come", "serviced_elsewhere", "declined", "not_reached"]),
        ("insurance_renewal", ["will_renew", "renewed_elsewhere", "declined", "not_reached"]),
        ("birthday", ["greeted", "not_reached"]),
        ("delivery_call", ["reached_satisfied", "reached_issue", "not_reached"]),
        ("delivery_survey", ["reached_satisfied", "reached_issue", "not_reached"]),
        ("service_callback", ["reached_satisfied", "reached_issue", "not_reached"]),
        ("lapsed_recall", ["will_return", "lost", "not_reached"]),
        ("appointment", ["booked", "declined", "not_reached"]),
    ],
)
def test_vocabulary(task_type, codes):
    assert [s.code for s in outcomes_for(task_type)] == codes


def test_unknown_type_offers_nothing():
    assert outcomes_for("nonsense") == ()
    assert errors_of("nonsense", "declined")["outcome"]


def test_serviced_elsewhere_needs_shop_location_and_price():
    errors = errors_of("first_service", "serviced_elsewhere", {"shop": "  ", "location": "成都"})
    assert set(errors) == {"shop", "price"}
    clean = validate_outcome(
        "first_service",
        "serviced_elsewhere",
        {"shop": "  速修  汽修 ", "location": "成都 高新区", "price": "1,288.5"},
        None,
    )
    assert clean.spec.closes_task
    assert clean.detail == {"shop": "速修 汽修", "location": "成都 高新区", "price": "1288.50"}


@pytest.mark.parametrize("price", ["0", "-5", "abc", "12.345", "1e3", "2000000"])
def test_price_must_be_a_positive_amount(price):
    errors = errors_of("maintenance", "serviced_elsewhere", {"shop": "A", "location": "B", "price": price})
    assert set(errors) == {"price"}


@pytest.mark.parametrize(("typed", "stored"), [("688", "688.00"), ("¥688.5", "688.50"), ("０", None)])
def test_price_spellings(typed, stored):
    values = {"shop": "A", "location": "B", "price": typed}
    if stored is None:
        assert "price" in errors_of("first_service", "serviced_elsewhere", values)
    else:
        assert validate_outcome("first_service", "serviced_elsewhere", values, None).detail["price"] == stored


def test_declined_needs_a_reason():
    assert set(errors_of("warranty_expiry", "declined", {"reason": ""})) == {"reason"}
    clean = validate_outcome("warranty_expiry", "declined", {"reason": "太忙"}, None)
    assert clean.detail == {"reason": "太忙"} and clean.spec.closes_task


def test_not_reached_needs_nothing_and_does_not_close():
    clean = validate_outcome("first_service", "not_reached", {"shop": "ignored"}, "  ")
    assert not clean.spec.closes_task
    assert clean.detail == {} and clean.note is None


def test_only_the_chosen_outcomes_fields_are_read():
    clean = validate_outcome("first_service", "declined", {"reason": "贵", "shop": "X", "price": "-1"}, None)
    assert clean.detail == {"reason": "贵"}


def test_missing_and_unknown_outcome():
    assert "outcome" in errors_of("first_service", "")
    assert "outcome" in errors_of("first_service", None)
    assert "outcome" in errors_of("birthday", "serviced_elsewhere")  # not one of birthday's


def test_insurance_renewed_elsewhere_needs_the_insurer_price_optional():
    assert set(errors_of("insurance_renewal", "renewed_elsewhere", {})) == {"insurer"}
    clean = validate_outcome("insurance_renewal", "renewed_elsewhere", {"insurer": "平安"}, None)
    assert clean.detail == {"insurer": "平安"}
    assert "price" in errors_of("insurance_renewal", "renewed_elsewhere", {"insurer": "平安", "price": "x"})


def test_reached_issue_needs_a_note():
    assert set(errors_of("service_callback", "reached_issue", {}, "")) == {"note"}
    clean = validate_outcome("service_callback", "reached_issue", {}, " 车门异响 ")
    assert clean.note == "车门异响"


def test_lost_needs_a_loss_reason_from_the_list_and_other_needs_a_note():
    assert set(errors_of("lapsed_recall", "lost", {})) == {"loss_reason"}
    assert set(errors_of("lapsed_recall", "lost", {"loss_reason": "bored"})) == {"loss_reason"}
    assert set(errors_of("lapsed_recall", "lost", {"loss_reason": "other"})) == {"note"}
    assert validate_outcome("lapsed_recall", "lost", {"loss_reason": "other"}, "换了品牌").detail == {
        "loss_reason": "other"
    }
    for reason in LOSS_REASONS:
        if reason.code != "other":
            assert validate_outcome("lapsed_recall", "lost", {"loss_reason": reason.code}, None).detail


def test_the_form_offers_the_one_list_of_loss_reasons_and_keeps_the_codes_once_stored():
    [field] = outcome_spec("lapsed_recall", "lost").fields
    assert field.choices == tuple((r.code, r.label) for r in LOSS_REASONS)  # care.domain.lapsed's
    # Codes recorded by earlier versions keep their meaning (outcomes store the code).
    assert {"moved_away", "sold_car", "price", "service_quality", "other_shop_nearer", "other"} <= {
        r.code for r in LOSS_REASONS
    }


def _note_needed(task_type, code, values) -> bool:
    try:
        validate_outcome(task_type, code, values, None)
    except OutcomeInvalid as exc:
        return "note" in exc.errors
    return False


@pytest.mark.parametrize("task_type", [t.value for t in TaskType])
def test_note_rules_say_exactly_when_validation_wants_a_note(task_type):
    """The note's label is built from note_rules: it must name every case the server
    refuses without a note, and no other."""
    said = {(r.outcome, r.field, r.choice) for r in note_rules(task_type)}
    needed = set()
    for spec in outcomes_for(task_type):
        base = {f.name: ("688" if f.kind == "money" else f.choices[0][0] if f.choices else "x") for f in spec.fields}
        if _note_needed(task_type, spec.code, base) and spec.note_required:
            needed.add((spec.code, None, None))
        for f in spec.fields:
            for value, _label in f.choices:
                if _note_needed(task_type, spec.code, {**base, f.name: value}) and not spec.note_required:
                    needed.add((spec.code, f.name, value))
    assert said == needed


def test_note_rules_of_the_lapsed_recall_and_the_callbacks():
    [lost] = note_rules("lapsed_recall")
    assert (lost.outcome, lost.field, lost.choice, lost.choice_label) == ("lost", "loss_reason", "other", "Other")
    assert [(r.outcome, r.field) for r in note_rules("service_callback")] == [("reached_issue", None)]
    assert note_rules("first_service") == ()
    assert note_required_by("lapsed_recall") == ("Other",)


def test_booking_flags():
    assert outcome_spec("first_service", "will_come").booking is Booking.OPTIONAL
    assert outcome_spec("lapsed_recall", "will_return").booking is Booking.OPTIONAL
    assert outcome_spec("appointment", "booked").booking is Booking.REQUIRED
    assert outcome_spec("first_service", "declined").booking is Booking.NONE


def test_too_long_values():
    errors = errors_of("first_service", "declined", {"reason": "x" * 501}, "y" * 2001)
    assert set(errors) == {"reason", "note"}


def test_errors_carry_a_message_template():
    errors = errors_of("first_service", "serviced_elsewhere", {"shop": "A", "location": "B", "price": "0"})
    assert "0" in str(errors["price"]) or "more than" in str(errors["price"])
    assert "price" in str(OutcomeInvalid(errors))
