import pytest

from vertexcompat.auth.any_bearer import AnyBearerAuthenticator
from vertexcompat.domain.errors import Unauthenticated


def test_any_non_empty_bearer_token_is_accepted_for_the_project():
    principal = AnyBearerAuthenticator().authenticate("Bearer abc.def", "my-project")
    assert principal.project == "my-project"
    assert "abc.def" not in principal.subject


def test_same_token_gives_same_subject():
    auth = AnyBearerAuthenticator()
    assert auth.authenticate("Bearer t", "p") == auth.authenticate("bearer t", "p")


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer   ", "Basic dXNlcg==", "token"])
def test_missing_or_malformed_header_is_unauthenticated(header):
    with pytest.raises(Unauthenticated):
        AnyBearerAuthenticator().authenticate(header, "p")
