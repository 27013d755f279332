"""Where a joint message stands: the latest answer of each organisation to the version asked for counts."""

from __future__ import annotations

from bot.domain.joint_message import Answer, standing

ORGS = ["lst", "sos", "nacka"]


def test_answers_to_an_earlier_version_do_not_count() -> None:
    now = standing(ORGS, [Answer("lst", 1, True), Answer("sos", 1, False, "för långt")], version=2)
    assert now.approved == () and now.objected == () and now.waiting == ("lst", "sos", "nacka")
    assert not now.everyone_approved


def test_the_latest_answer_of_an_organisation_counts_in_the_order_of_the_composition() -> None:
    answers = [Answer("nacka", 2, False, "nämn kollektivtrafiken"), Answer("sos", 2, True),
               Answer("nacka", 2, True)]
    now = standing(ORGS, answers, version=2)
    assert now.approved == ("sos", "nacka") and now.objected == () and now.waiting == ("lst",)
    later = standing(ORGS, [*answers, Answer("sos", 2, False, "fel tid")], version=2)
    assert later.objected == (("sos", "fel tid"),) and later.approved == ("nacka",)


def test_only_the_composition_is_counted_and_everyone_approving_is_told() -> None:
    answers = [Answer(o, 1, True) for o in [*ORGS, "polisen"]]
    now = standing(ORGS, answers, version=1)
    assert now.approved == tuple(ORGS) and now.everyone_approved
    assert standing([], [], version=1).everyone_approved is True
