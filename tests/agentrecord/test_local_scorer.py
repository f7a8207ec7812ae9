"""The kept-context scorer on the packaged model: the same likelihoods as a plain evaluation, for the targets' cost."""

from __future__ import annotations

import numpy as np
import pytest
from llama_cpp import Llama

from agentrecord.local import engine as local_engine
from agentrecord.local.scorer import SEQUENCES

PREFIX = "You are a day trader. You can watch the market and place trades for the user."
OPTIONS = [
    "Tool quote_feed: get the latest quote for a stock ticker symbol.\nThe user's message: ",
    "Tool order_entry: place an order to buy or sell shares for the user.\nThe user's message: ",
    "Answer in words, calling no tool.\nThe user's message: ",
]


@pytest.fixture(scope="module")
def engine() -> local_engine.Engine:
    return local_engine.Engine(local_engine.model_path(local_engine.DEFAULT_MODEL), 4096, None)


def plain_scores(prefix: str, pairs: list[tuple[str, str]]) -> list[float]:
    """Each target's log-likelihood from a fresh, whole evaluation of prefix + middle + target."""
    llama = Llama(model_path=str(local_engine.model_path(local_engine.DEFAULT_MODEL)), logits_all=True, verbose=False)
    out = []
    for middle, target in pairs:
        head = [llama.token_bos(), *llama.tokenize(prefix.encode(), add_bos=False, special=False)]
        mid = llama.tokenize(middle.encode(), add_bos=False, special=False)
        want = llama.tokenize(target.encode(), add_bos=False, special=False)
        llama.reset()
        llama.eval(head + mid + want)
        start = len(head) + len(mid) - 1
        logits = np.asarray(llama.scores[start : start + len(want)], dtype=np.float64)
        top = logits.max(axis=1, keepdims=True)
        norm = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
        out.append(float((logits[np.arange(len(want)), want] - norm).sum()))
    return out


def test_a_request_scores_as_a_whole_evaluation_does_and_ranks_the_options_alike(engine: local_engine.Engine) -> None:
    pairs = [(option, "How much is NVDA trading at?") for option in OPTIONS]
    kept, _ = engine.score_pairs(PREFIX, pairs)
    plain = plain_scores(PREFIX, pairs)
    assert np.allclose(kept, plain, atol=1.0)  # batched kernels round differently; a wrong position is off by far more
    assert np.argsort(kept).tolist() == np.argsort(plain).tolist()


def test_a_second_request_evaluates_only_its_own_tokens_and_leaves_nothing_behind(engine: local_engine.Engine) -> None:
    prefix = "You are a stock investor for the user."  # not kept yet by another test
    first = [(option, "Buy 5 shares of AAPL.") for option in OPTIONS]
    scores, evaluated = engine.score_pairs(prefix, first)
    target = len(engine._load().tokenize(b"Buy 5 shares of AAPL.", add_bos=False, special=False))
    assert evaluated > (target + 10) * len(OPTIONS)  # each option's text (10+ tokens) was evaluated this once
    other = [(option, "What is a limit order?") for option in OPTIONS]
    engine.score_pairs(prefix, other)
    again, evaluated = engine.score_pairs(prefix, first)
    assert evaluated == target * len(OPTIONS)  # only the request, after each kept option
    assert again == scores  # the other request's tokens were removed from the options' sequences


def test_more_contexts_than_it_keeps_are_scored_like_each_alone(engine: local_engine.Engine) -> None:
    statements = [
        (f"The quantity is {n}.\nThe user's message: ", "Sell 12 shares of KO.") for n in range(SEQUENCES + 8)
    ]
    together, _ = engine.score_pairs("", statements)
    alone = [engine.score_pairs("", [pair])[0][0] for pair in statements[:3] + statements[-3:]]
    assert np.allclose(together[:3] + together[-3:], alone, atol=1.0)  # batch size changes llama.cpp's rounding
    assert max(range(len(together)), key=together.__getitem__) == 12  # the quantity the request states


def test_the_same_option_twice_scores_the_same_twice(engine: local_engine.Engine) -> None:
    pairs = [(OPTIONS[0], "What is AAPL at?"), (OPTIONS[1], "What is AAPL at?"), (OPTIONS[0], "What is AAPL at?")]
    scores, _ = engine.score_pairs(PREFIX, pairs)
    assert scores[0] == scores[2] and scores[0] != scores[1]


def test_the_answer_constraint_refuses_a_number_character_split_over_tokens(engine: local_engine.Engine) -> None:
    # "⅛" is three byte tokens; judged one token at a time, none of them was a number, and "GOOGL's
    # profit margins are ⅛" got through a constraint that admits only the context's numbers
    from agentrecord.local.grammar import NumbersFrom

    llama = engine._load()
    process = engine._constraint(llama, 0, NumbersFrom(["12"]))
    ids = llama.tokenize("The margin is ⅛".encode(), add_bos=False, special=False)
    pieces = len(llama.tokenize("⅛".encode(), add_bos=False, special=False))
    assert pieces > 1
    scores = np.zeros(llama.n_vocab(), dtype=np.float32)
    for last in range(len(ids) - pieces, len(ids)):  # not its last byte, nor the first ones (else "⅏" comes out)
        scores[:] = 0.0
        scores[ids[last]] = 10.0
        assert int(np.argmax(process(np.array(ids[:last]), scores.copy()))) != ids[last]
    twelve = llama.tokenize(b"The margin is 12", add_bos=False, special=False)
    scores[:] = 0.0
    scores[twelve[-1]] = 10.0
    assert int(np.argmax(process(np.array(twelve[:-1]), scores.copy()))) == twelve[-1]
