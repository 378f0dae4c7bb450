"""The tone check for outgoing replies: hand-set politeness cues, explained."""

from __future__ import annotations

import pytest

from monitoring.scoring.tone import impoliteness


@pytest.mark.parametrize(
    ("polite", "rude"),
    [
        (
            "Thanks for flagging this! Could you send us your order number, please?",
            "Why didn't you read the FAQ? Send the order number.",
        ),
        (
            "Sorry for the trouble, we would be glad to help you with the refund.",
            "You obviously did it wrong, stop blaming us!",
        ),
        ("Hi, would you mind checking the app again?", "What the hell is wrong with you?"),
    ],
)
def test_rude_replies_score_higher(polite: str, rude: str) -> None:
    assert impoliteness(polite).score < impoliteness(rude).score
    assert not impoliteness(polite).impolite
    assert impoliteness(rude).impolite


def test_cues_explain_the_score() -> None:
    tone = impoliteness("Why would you do that? Seriously?")
    cues = dict(tone.cues)
    assert cues["starts:why"] > 0
    assert cues["seriously"] > 0
    assert 0.0 <= tone.score <= 1.0


def test_profanity_makes_a_reply_impolite() -> None:
    tone = impoliteness("Thanks, this is a fucking mess")
    assert ("offensive", 2.0) in tone.cues
