"""The demo's packaged sample is exactly what its builder derives from the committed CRS dump."""

from __future__ import annotations

from tests.support.build_demo_sample import SAMPLE, build, render


def test_packaged_sample_is_built_from_the_fixture() -> None:
    assert SAMPLE.read_text(encoding="utf-8") == render(build()), (
        "core/data/crs-sample.json is stale: run python -m tests.support.build_demo_sample"
    )
