"""`AgentRecord`: the SQLAlchemy mixin that makes a model an agent with a persisted conversation."""

from __future__ import annotations

import asyncio
import functools
import queue
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic_ai.messages import ModelMessage
from pydantic_ai.models import Model
from sqlalchemy import Connection, DateTime, Engine, Integer, String, Text, delete, event
from sqlalchemy.orm import Mapped, Mapper, mapped_column

from .. import _loop, approvals, hooks, mcp_servers, providers, tracing
from ..approvals import PendingApproval
from ..declaration import AgentSpec, parse
from ..errors import DeclarationError
from ..ledger import DayUsage
from ..reply import Reply, Usage
from ..state import window
from ..target import Target
from ..turn import resume_turn, run_turn
from .binding import BINDING, SqlAlchemyBinding, apply_totals
from .columns import ExactDecimal
from .store import Store, message_table, utcnow

if TYPE_CHECKING:
    from ..jobs import Job, Schedule

_SPEC_ATTR = "__agentrecord_spec__"
_STORE_ATTR = "__agentrecord_store__"
_overrides: dict[type, Model] = {}


class AgentRecord:
    """Mixin for a SQLAlchemy declarative model: `class Daytrader(AgentRecord, Base)`.

    Adds the seed's columns (provider, model, data, token counts, timestamps), a `cost` column and
    the run lease, and the runtime: `talk`, `atalk`, `stream`, `astream`, `messages`, `usage`.
    Declare the agent in a nested `class Agent:` (model, instructions, tools, skills, ...).
    """

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider: Mapped[str] = mapped_column(String(64), nullable=False)
    model: Mapped[str | None] = mapped_column(String(200), default=None)
    data: Mapped[str | None] = mapped_column(Text, default=None)
    input_tokens: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    total_tokens: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    cost: Mapped[Decimal | None] = mapped_column(ExactDecimal(), default=None)
    lease_owner: Mapped[str | None] = mapped_column(String(200), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow, nullable=False)

    __agentrecord_spec__: ClassVar[AgentSpec]
    __agentrecord_store__: ClassVar[Store]
    __agentrecord_binding__: ClassVar[SqlAlchemyBinding] = BINDING
    """How the runtime reaches a record's database (`ports.Binding`): tools load it and open Sessions through it."""

    # -- configuration hooks -------------------------------------------------------------------
    def provider_options(self) -> dict[str, Any]:
        """Options for this record's provider; by default `{PROVIDER}_SECRET` / `{PROVIDER}_BASE_URL`.

        Override to fetch a per-user key, say. Keys: `api_key`, `base_url`, and any keyword the
        pydantic-ai provider class accepts.
        """
        return providers.default_options(self.provider)

    def agent_model_name(self) -> str:
        """The model this record talks to: its `model` column, else the class's, else the provider's default."""
        name = self.model or self.agent_spec().model or providers.default_model(self.provider)
        if not name:
            raise DeclarationError(
                f"{type(self).__name__} has no model: set `model` in its `class Agent:` or on the record."
            )
        return name

    @classmethod
    def agent_spec(cls) -> AgentSpec:
        """The validated declaration of this agent class."""
        spec = cls.__dict__.get(_SPEC_ATTR)
        if spec is None:
            spec = parse(cls)
            setattr(cls, _SPEC_ATTR, spec)
        return spec

    # -- state ---------------------------------------------------------------------------------
    @property
    def usage(self) -> Usage:
        """Cumulative tokens of every turn, as the provider reported them."""
        return Usage(self.input_tokens or 0, self.output_tokens or 0)

    def usage_by_day(self, since: date | None = None) -> list[DayUsage]:
        """Per-day (UTC) totals of this agent's usage ledger, oldest first: requests, tokens, cost, failures.

        The ledger (`<table>_usage`) holds one row per provider request, failed and retried attempts included.
        """
        engine, agent_id = self._bound()
        return type(self)._store().by_day(engine, [agent_id], since)

    @property
    def messages(self) -> list[ModelMessage]:
        """The whole conversation, oldest first (pydantic-ai messages), read from the database."""
        engine, agent_id = self._bound()
        return type(self)._store().load_all(engine, agent_id)

    def history(self, *, before: int | None = None, limit: int = 50) -> list[tuple[int, ModelMessage]]:
        """One page of the conversation, newest `limit` messages before sequence number `before`, oldest first.

        Each item is `(seq, message)`; pass the first seq as `before` for the previous page. Reads one
        index range, so a page costs the same however long the agent has lived.
        """
        if limit < 1:
            raise ValueError(f"limit must be at least 1 (got {limit})")
        engine, agent_id = self._bound()
        return type(self)._store().page(engine, agent_id, before, limit)

    @property
    def summary(self) -> str | None:
        """The summary the model currently sees in place of older messages (None before any compaction)."""
        engine, agent_id = self._bound()
        return window(type(self)._store().load_state(engine, agent_id))[1]

    @property
    def pending_approvals(self) -> list[PendingApproval]:
        """Tool calls waiting for the owner's approval, read from the database (any process may add them)."""
        engine, agent_id = self._bound()
        return approvals.pending(type(self)._store().load_state(engine, agent_id))

    @property
    def held_job(self) -> str | None:
        """The id of the job whose turn holds the pending approvals (it resumes once they are decided), if any."""
        engine, agent_id = self._bound()
        return hooks.holding_job(type(self)._store().load_state(engine, agent_id), engine)

    # -- approvals -----------------------------------------------------------------------------
    def approve(self, call_id: str, *, wait: float | None = None, by: str | None = None) -> Reply[Any] | None:
        """Approve a pending tool call; once no call of its turn is left waiting, the turn resumes.

        Returns the resumed turn's reply, or None while other calls of that turn still wait.
        Approving twice, or a call this agent is not holding, raises ApprovalError. `by` names the
        approver; the tool sees who and when as `ToolContext.approval`.
        """
        return _loop.run_sync(resume_turn(self._target(), {call_id: True}, wait=wait, by=by))

    def deny(
        self, call_id: str, reason: str = "", *, wait: float | None = None, by: str | None = None
    ) -> Reply[Any] | None:
        """Deny a pending tool call (the model is told `reason`); resumes like `approve`."""
        return _loop.run_sync(resume_turn(self._target(), {call_id: _denial(reason)}, wait=wait, by=by))

    async def aapprove(self, call_id: str, *, wait: float | None = None, by: str | None = None) -> Reply[Any] | None:
        """Async `approve`."""
        return await _loop.run_async(resume_turn(self._target(), {call_id: True}, wait=wait, by=by))

    async def adeny(
        self, call_id: str, reason: str = "", *, wait: float | None = None, by: str | None = None
    ) -> Reply[Any] | None:
        """Async `deny`."""
        return await _loop.run_async(resume_turn(self._target(), {call_id: _denial(reason)}, wait=wait, by=by))

    # -- turns ---------------------------------------------------------------------------------
    def talk(self, prompt: str, *, wait: float | None = None) -> Reply[Any]:
        """Run one turn: send `prompt`, let the model use its tools, persist, and return the reply.

        `wait` overrides how many seconds to wait if another turn is running on this agent.
        """
        return _loop.run_sync(run_turn(self._target(), prompt, wait=wait))

    async def atalk(self, prompt: str, *, wait: float | None = None) -> Reply[Any]:
        """Async `talk`."""
        return await _loop.run_async(run_turn(self._target(), prompt, wait=wait))

    def stream(self, prompt: str, *, wait: float | None = None) -> ReplyStream:
        """Run one turn, yielding text as it arrives; the reply is on `.reply` once the stream ends."""
        return ReplyStream(self._target(), prompt, wait)

    async def astream(self, prompt: str, *, wait: float | None = None) -> AsyncIterator[str]:
        """Async `stream`: yields text deltas; the turn is persisted when the iteration ends."""
        target = self._target()
        user_loop = asyncio.get_running_loop()
        chunks: asyncio.Queue[str | None] = asyncio.Queue()

        def on_text(text: str) -> None:
            user_loop.call_soon_threadsafe(chunks.put_nowait, text)

        async def produce() -> Reply[Any]:
            try:
                return await run_turn(target, prompt, wait=wait, on_text=on_text)
            finally:
                user_loop.call_soon_threadsafe(chunks.put_nowait, None)

        task = asyncio.ensure_future(_loop.run_async(produce()))
        while (chunk := await chunks.get()) is not None:
            yield chunk
        await task

    # -- jobs ----------------------------------------------------------------------------------
    def enqueue(self, prompt: str, *, key: str | None = None, stream: bool = False) -> Job:
        """Queue one turn for a worker to run (`agentrecord.jobs`); the same `key` twice makes one job.

        This agent's jobs run one at a time in the order they were enqueued. `stream=True` streams the
        model's text to the job's events as it is written (for a live view); otherwise each response's
        text is one event, and the worker makes the cheaper non-streaming request.
        """
        job: Job = hooks.jobs().enqueue(self, prompt, key, stream=stream)
        return job

    async def aenqueue(self, prompt: str, *, key: str | None = None, stream: bool = False) -> Job:
        """Async `enqueue`."""
        return await asyncio.to_thread(self.enqueue, prompt, key=key, stream=stream)

    def schedule(
        self,
        prompt: str,
        *,
        every: str | None = None,
        cron: str | None = None,
        tz: str | None = None,
        calendar: str | None = None,
    ) -> Schedule:
        """Run `prompt` as a job on a clock: `every="15m"` (aligned: :00, :15, ...) or `cron="*/15 9-16 * * 1-5"`.

        Stored in the database; each tick fires once however many workers run. Ticks missed while no
        worker ran are not replayed: at most one catch-up run when a worker starts. `calendar` names a
        calendar registered with `agentrecord.jobs.register_calendar` outside which ticks are skipped.
        """
        made: Schedule = hooks.jobs().schedule(self, prompt, every=every, cron=cron, tz=tz, calendar_name=calendar)
        return made

    def schedules(self) -> list[Schedule]:
        """This agent's schedules."""
        return hooks.jobs().schedules(self)

    def jobs(self, limit: int = 50) -> list[Job]:
        """This agent's latest jobs, newest first."""
        return hooks.jobs().jobs(self, limit)

    # -- internals -----------------------------------------------------------------------------
    @classmethod
    def _store(cls) -> Store:
        store: Store | None = getattr(cls, _STORE_ATTR, None)
        if store is None:
            raise DeclarationError(f"{cls.__name__} is not mapped: declare it on a SQLAlchemy declarative Base.")
        return store

    def _bound(self) -> tuple[Engine, Any]:
        found: tuple[Engine, Any] = self.__agentrecord_binding__.locate(self)
        return found

    def _summary_model(self, name: str) -> Model:
        """The compaction model: "model" on this record's provider, or "provider:model" on another."""
        head, sep, tail = name.partition(":")
        if sep and head.strip().lower() in providers.provider_names():
            return providers.model_for(head, tail, providers.default_options(head))
        return providers.model_for(self.provider, name, self.provider_options())

    def _target(self) -> Target:
        engine, agent_id = self._bound()
        cls = type(self)
        override = _overrides.get(cls) or next((m for k, m in _overrides.items() if isinstance(self, k)), None)
        model = override or providers.model_for(self.provider, self.agent_model_name(), self.provider_options())
        spec = cls.agent_spec()
        summarizer = model
        if spec.compaction is not None and spec.compaction.model and override is None:
            summarizer = self._summary_model(spec.compaction.model)
        return Target(
            record=self,
            spec=spec,
            store=cls._store(),
            engine=engine,
            binding=cls.__agentrecord_binding__,
            agent_id=agent_id,
            model=model,
            label=f"{cls.__name__} id={agent_id}",
            summarizer=summarizer,
            trace_parent=tracing.current(),
            mcp=mcp_servers.servers_of(spec, self, f"{cls.__name__} id={agent_id}") if spec.mcp else [],
            reflect=functools.partial(apply_totals, self),
        )


class ReplyStream(Iterator[str]):
    """Text deltas of a running turn; `.reply` holds the Reply once iteration has finished."""

    def __init__(self, target: Target, prompt: str, wait: float | None) -> None:
        self.reply: Reply[Any] | None = None
        self._chunks: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._done = threading.Event()

        async def produce() -> None:
            try:
                self.reply = await run_turn(target, prompt, wait=wait, on_text=self._chunks.put)
            except BaseException as exc:
                self._error = exc
            finally:
                self._chunks.put(None)

        self._future = _loop.run_sync_nowait(produce())

    def __next__(self) -> str:
        chunk = self._chunks.get()
        if chunk is None:
            self._chunks.put(None)
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            raise StopIteration
        return chunk

    def text(self) -> str:
        """Consume the rest of the stream and return the whole reply text."""
        for _ in self:
            pass
        assert self.reply is not None
        return self.reply.text


def _denial(reason: str) -> str:
    return reason.strip() or "The owner denied this call."


def _on_mapped(mapper: Mapper[Any], cls: type) -> None:
    """When an agent class is mapped: validate its declaration and create its messages table."""
    if not issubclass(cls, AgentRecord) or _STORE_ATTR in cls.__dict__:
        return
    table = mapper.local_table
    if len(list(table.primary_key)) != 1:
        raise DeclarationError(f"{cls.__name__} needs a single-column primary key to be an agent record.")
    setattr(cls, _SPEC_ATTR, parse(cls))
    store = Store(table, message_table(table), cls.__name__)  # type: ignore[arg-type]
    setattr(cls, _STORE_ATTR, store)

    def delete_messages(mapper: Mapper[Any], connection: Connection, target: AgentRecord) -> None:
        # SQLite enforces the ON DELETE CASCADE only with PRAGMA foreign_keys=ON; do it explicitly.
        connection.execute(delete(store.messages).where(store.messages.c.agent_id == target.id))
        connection.execute(delete(store.usage).where(store.usage.c.agent_id == target.id))

    event.listen(cls, "before_delete", delete_messages)


event.listen(AgentRecord, "after_mapper_constructed", _on_mapped, propagate=True)
