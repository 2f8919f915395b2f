"""gs://bucket/object read from a local directory, confined to it."""

import os

import pytest

from vertexcompat.domain.errors import InvalidArgument, PayloadTooLarge
from vertexcompat.media.gcs import read_gcs_object
from vertexcompat.media.limits import MediaLimits

PARAM = "messages[0].content[0].image_url.url"


@pytest.fixture
def store(tmp_path):
    root = tmp_path / "gcs"
    (root / "my-bucket" / "photos").mkdir(parents=True)
    (root / "my-bucket" / "photos" / "cat.png").write_bytes(b"cat bytes")
    (tmp_path / "secret.txt").write_bytes(b"secret")
    return root


def _read(uri, root, max_bytes=1000):
    return read_gcs_object(uri, param=PARAM, limits=MediaLimits(gcs_root=root),
                           max_bytes=max_bytes)


def test_object_is_read_from_root_bucket_object(store):
    assert _read("gs://my-bucket/photos/cat.png", store) == b"cat bytes"


def test_symlink_that_stays_inside_the_root_is_followed(store):
    (store / "my-bucket" / "alias.png").symlink_to(store / "my-bucket" / "photos" / "cat.png")
    assert _read("gs://my-bucket/alias.png", store) == b"cat bytes"


@pytest.mark.parametrize("uri", [
    "gs://my-bucket/../secret.txt", "gs://my-bucket/photos/../../../secret.txt",
    "gs://my-bucket//etc/passwd", "gs://my-bucket/./photos/cat.png", "gs://../secret.txt",
    "gs://my-bucket/photos/cat.png\x00.jpg", "gs://My_Bucket!/x",
    "gs://my-bucket", "gs://my-bucket/",
])
def test_traversal_and_malformed_names_are_a_400(store, uri):
    with pytest.raises(InvalidArgument) as err:
        _read(uri, store)
    assert err.value.param == PARAM


def test_symlink_escaping_the_root_is_refused(store):
    (store / "my-bucket" / "leak.png").symlink_to(store.parent / "secret.txt")
    with pytest.raises(InvalidArgument, match="outside the object store"):
        _read("gs://my-bucket/leak.png", store)


def test_bucket_symlinked_outside_the_root_is_refused(store, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "x.png").write_bytes(b"x")
    (store / "evil-bucket").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(InvalidArgument, match="outside the object store"):
        _read("gs://evil-bucket/x.png", store)


def test_missing_object_is_a_400_saying_not_found(store):
    with pytest.raises(InvalidArgument, match="not found"):
        _read("gs://my-bucket/photos/dog.png", store)


def test_directory_is_not_an_object(store):
    with pytest.raises(InvalidArgument, match="is not a file"):
        _read("gs://my-bucket/photos", store)


def test_fifo_is_refused_without_blocking(store):
    os.mkfifo(store / "my-bucket" / "pipe")
    with pytest.raises(InvalidArgument, match="is not a file"):
        _read("gs://my-bucket/pipe", store)


def test_object_over_the_byte_limit_is_a_413(store):
    with pytest.raises(PayloadTooLarge) as err:
        _read("gs://my-bucket/photos/cat.png", store, max_bytes=4)
    assert err.value.http_status == 413


def test_unconfigured_store_is_a_400_explaining_how_to_configure_it():
    with pytest.raises(InvalidArgument) as err:
        read_gcs_object("gs://my-bucket/a.png", param=PARAM, limits=MediaLimits(), max_bytes=10)
    # The name of the real setting (config.py `media_gcs_root`), not a guess at it.
    assert "VERTEXCOMPAT_MEDIA_GCS_ROOT" in err.value.message
    assert "`media_gcs_root`" in err.value.message
    assert err.value.param == PARAM
