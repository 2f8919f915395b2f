"""The `x-vertexcompat-grounding` response header: a request that asked to be grounded in
search results, on a model this server grounds, while the search index is empty, is
answered ungrounded — and says so here, since the answer itself cannot."""

from __future__ import annotations

from vertexcompat.domain.content import GenerateContentRequest
from vertexcompat.services.route import Route
from vertexcompat.web.deps import AppContainer

HEADER = "x-vertexcompat-grounding"
UNGROUNDED = "ungrounded; the search index is empty (add documents: vertexcompat index add PATH)"


def grounding_headers(
    container: AppContainer, route: Route, request: GenerateContentRequest
) -> dict[str, str]:
    if not request.grounding or route.model.capabilities.grounding:
        return {}
    return {} if container.grounding_available() else {HEADER: UNGROUNDED}
