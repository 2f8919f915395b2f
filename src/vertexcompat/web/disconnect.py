"""Cancelling the current request's work when its client goes away.

The work stays in the request's own task (the backend's async generator is advanced by
one task only): a watcher task cancels the request task on `http.disconnect`, and the
cancellation is converted to `ClientDisconnected` the way `asyncio.timeout` converts its
own cancellation (`Task.uncancel`), so cancellations from elsewhere still propagate.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.types import Receive


class ClientDisconnected(Exception):
    """The client closed the connection before the answer was ready."""


async def wait_for_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


@asynccontextmanager
async def cancel_on_disconnect(receive: Receive) -> AsyncIterator[None]:
    """Run the block; if the client disconnects first, cancel it (the block must release
    its resources on cancellation, e.g. `aclose` a stream) and raise `ClientDisconnected`."""
    task = asyncio.current_task()
    assert task is not None
    disconnected = False

    async def watch() -> None:
        nonlocal disconnected
        await wait_for_disconnect(receive)
        disconnected = True
        task.cancel()

    watcher = asyncio.create_task(watch())
    try:
        yield
    except asyncio.CancelledError:
        if disconnected and task.uncancel() == 0:
            raise ClientDisconnected() from None
        raise
    finally:
        watcher.cancel()
