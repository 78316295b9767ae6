"""OpenGL fixtures for display tests: one headless context per test module, checked for GL errors."""

from __future__ import annotations

import pytest

from display.gl import collect_gl_garbage


@pytest.fixture(scope="module")
def gl_ctx():
    from app.platform import create_gl_context

    ctx = create_gl_context()
    yield ctx
    ctx.release()


@pytest.fixture
def ctx(gl_ctx):
    """The module's context; every test must leave it without a pending OpenGL error."""
    assert gl_ctx.error == "GL_NO_ERROR"
    yield gl_ctx
    collect_gl_garbage(gl_ctx)
    assert gl_ctx.error == "GL_NO_ERROR"
