"""Output names: readable, distinct for distinct inputs, never outside the output directory."""
from __future__ import annotations

import posixpath

import pytest

from transforms.naming import glob_prefix, output_stem


@pytest.mark.parametrize(
    "pattern,prefix",
    [("in/*.jpg", "in/"), ("/data/a/**/*.png", "/data/a/"), ("gs://b/x/y?.jpg", "gs://b/x/"),
     ("photo.jpg", ""), ("/data/photo.jpg", "/data/")],
)
def test_glob_prefix(pattern, prefix):
    assert glob_prefix(pattern) == prefix


def test_names_keep_the_path_below_the_pattern_prefix():
    assert output_stem("/in/cats/tabby.jpg", "/in/") == "cats/tabby"
    assert output_stem("/in/a/x.jpg", "/in/") != output_stem("/in/b/x.jpg", "/in/")


@pytest.mark.parametrize(
    "uri",
    ["/in/../../etc/passwd.jpg", "/etc/passwd", "gs://bucket/../x.png", "/in/a/\x00b.jpg",
     "https://example.com/a b/c.jpg?x=1", "/in/..", "C:\\photos\\x.jpg"],
)
def test_names_never_escape_the_output(uri):
    stem = output_stem(uri, "/in/")
    assert stem and not stem.startswith("/")
    assert ".." not in stem.split("/")
    assert posixpath.normpath(posixpath.join("/out", stem)).startswith("/out/")


def test_sanitised_names_carry_a_hash_so_they_stay_distinct():
    a, b = output_stem("/in/a?b.jpg", "/in/"), output_stem("/in/a*b.jpg", "/in/")
    assert a != b and a.startswith("a_b-") and b.startswith("a_b-")


def test_unicode_and_spaces_survive():
    assert output_stem("/in/café au lait.jpg", "/in/") == "café au lait"
