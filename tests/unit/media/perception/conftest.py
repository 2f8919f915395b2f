import pytest

from vertexcompat.media.perception import Perception


@pytest.fixture(scope="session")
def perception(tmp_path_factory: pytest.TempPathFactory) -> Perception:
    # One instance for the whole run: the models load once (they are the slow part).
    return Perception(cache_dir=tmp_path_factory.mktemp("perception-cache"), threads=1)
