"""The kept-context scorer on the packaged model: the same likelihoods as a plain evaluation, for the targets' cost,
and the very same bytes whatever was scored before, in whatever company, from memory, disk or afresh."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agentrecord.local import llama as local_engine
from agentrecord.local.states import StateStore

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
    llama = local_engine.load_llama(local_engine.model_path(local_engine.DEFAULT_MODEL), logits_all=True)
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
    kept = engine.score_pairs(PREFIX, pairs).scores
    plain = plain_scores(PREFIX, pairs)
    assert np.allclose(kept, plain, atol=1.0)  # batched kernels round differently; a wrong position is off by far more
    assert np.argsort(kept).tolist() == np.argsort(plain).tolist()


def test_a_second_request_evaluates_only_its_own_tokens_and_leaves_nothing_behind(engine: local_engine.Engine) -> None:
    prefix = "You are a stock investor for the user."  # not kept yet by another test
    first = [(option, "Buy 5 shares of AAPL.") for option in OPTIONS]
    scores, evaluated, _ = engine.score_pairs(prefix, first)
    target = len(engine._load().tokenize(b"Buy 5 shares of AAPL.", add_bos=False, special=False))
    assert evaluated > (target + 10) * len(OPTIONS)  # each option's text (10+ tokens) was evaluated this once
    other = [(option, "What is a limit order?") for option in OPTIONS]
    engine.score_pairs(prefix, other)
    again, evaluated, _ = engine.score_pairs(prefix, first)
    assert evaluated == target * len(OPTIONS)  # only the request, after each kept option
    assert again == scores  # the other request's tokens were removed from the options' sequences


def test_a_score_is_the_same_bytes_alone_together_after_others_and_in_any_order(engine: local_engine.Engine) -> None:
    statements = [(f"The quantity is {n}.\nThe user's message: ", "Sell 12 shares of KO.") for n in range(6, 18)]
    together = engine.score_pairs("", statements).scores
    engine.score_pairs(PREFIX, [(option, "Buy 3 NVDA and tell me the bid.") for option in OPTIONS])  # unrelated
    alone = [engine.score_pairs("", [pair]).scores[0] for pair in statements]
    backwards = engine.score_pairs("", statements[::-1]).scores
    assert together == alone == backwards[::-1]  # exact: each score is one fixed computation
    assert max(range(len(together)), key=together.__getitem__) == 6  # "The quantity is 12." fits the request best


def test_a_stored_context_scores_the_same_in_a_new_process_without_evaluating_it(
    engine: local_engine.Engine, tmp_path: Path
) -> None:
    pairs = [(option, "Sell 4 shares of MSFT now.") for option in OPTIONS]
    first = local_engine.Engine(engine.path, 4096, None)
    first._state_store = lambda: StateStore(tmp_path)  # type: ignore[method-assign]
    scores, evaluated, read = first.score_pairs(PREFIX, pairs)
    assert len(list(tmp_path.glob("*.state"))) == len(OPTIONS)
    later = local_engine.Engine(engine.path, 4096, None)  # a new engine: nothing kept in memory
    later._state_store = lambda: StateStore(tmp_path)  # type: ignore[method-assign]
    again, evaluated_again, read_again = later.score_pairs(PREFIX, pairs)
    target = len(engine._load().tokenize(b"Sell 4 shares of MSFT now.", add_bos=False, special=False))
    assert again == scores and evaluated_again == target * len(OPTIONS) < evaluated
    assert read_again == read  # what the scores were conditioned on is counted alike, kept or not
    uncached = engine.score_pairs(PREFIX, pairs).scores  # the shared engine evaluated them itself
    assert uncached == scores


def test_a_damaged_stored_state_is_evaluated_afresh(engine: local_engine.Engine, tmp_path: Path) -> None:
    pairs = [(OPTIONS[0], "What is AAPL at?")]
    store = StateStore(tmp_path)
    fresh = local_engine.Engine(engine.path, 4096, None)
    fresh._state_store = lambda: store  # type: ignore[method-assign]
    scores = fresh.score_pairs(PREFIX, pairs).scores
    for path in tmp_path.glob("*.state"):
        path.write_bytes(path.read_bytes()[:100])
    other = local_engine.Engine(engine.path, 4096, None)
    other._state_store = lambda: store  # type: ignore[method-assign]
    assert other.score_pairs(PREFIX, pairs).scores == scores


def test_the_same_option_twice_scores_the_same_twice(engine: local_engine.Engine) -> None:
    pairs = [(OPTIONS[0], "What is AAPL at?"), (OPTIONS[1], "What is AAPL at?"), (OPTIONS[0], "What is AAPL at?")]
    scores = engine.score_pairs(PREFIX, pairs).scores
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
