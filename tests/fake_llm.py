"""A local HTTP server speaking the OpenAI chat completions API, for the copilot's LLM engine tests.

It runs on 127.0.0.1 in a thread, records every request (path and JSON body), and answers with what
`reply(body)` returns: the message content the "model" wrote (a plan's JSON, or anything else).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

Reply = Callable[[dict[str, Any]], str]


@dataclass
class FakeLLM:
    """The running server: its base URL, the requests it received, and the reply it gives."""

    url: str
    reply: Reply
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)

    def answer(self, content: str | dict[str, Any]) -> None:
        """Reply with this content from now on (a dict is sent as its JSON)."""
        text = content if isinstance(content, str) else json.dumps(content)
        self.reply = lambda body: text

    def question(self, index: int = -1) -> str:
        """The question in a recorded request (the user message's JSON)."""
        body = self.requests[index][1]
        return str(json.loads(body["messages"][-1]["content"])["question"])


@contextmanager
def fake_llm(reply: Reply | None = None) -> Iterator[FakeLLM]:
    """Start the server; stop it on exit."""
    state = FakeLLM("", reply or (lambda body: '{"kind": "refuse", "reason": "no reply set"}'))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            state.raw.append(raw)
            state.headers.append({k.lower(): v for k, v in self.headers.items()})
            body = json.loads(raw)
            state.requests.append((self.path, body))
            if self.path != "/v1/chat/completions":
                self._send(404, {"error": {"message": f"no route {self.path}"}})
                return
            content = state.reply(body)
            self._send(
                200,
                {
                    "id": f"chatcmpl-{len(state.requests)}",
                    "object": "chat.completion",
                    "model": body.get("model"),
                    "choices": [
                        {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}
                    ],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                },
            )

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def use_llm(root: Path, url: str, privacy: bool = True, engine: str = "llm") -> None:
    """Point a project's brain.yaml at an LLM endpoint (appends the copilot section)."""
    path = root / "brain.yaml"
    text = path.read_text().split("\n# copilot (test)\n")[0]
    section = {"engine": engine, "llm": {"url": url, "model": "fake-model", "privacy": privacy}}
    path.write_text(text + "\n# copilot (test)\ncopilot: " + json.dumps(section) + "\n")
