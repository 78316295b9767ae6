"""VOODOO 3D (Tran et al., CVPR 2024) inference, re-implemented for the live app.

Entry points:

* :func:`pipeline.voodoo.checkpoint.load_model` -- read and check ``voodoo3d.pth``.
* :class:`pipeline.voodoo.model.Voodoo3D` -- the staged model (source preparation, driver
  -> tri-plane, batched rendering, super-resolution).
* :class:`pipeline.voodoo.backend.NeuralBackend` / :func:`~pipeline.voodoo.backend.load_backend`
  -- the ``neural`` avatar backend.
* ``python -m pipeline.voodoo.parity`` -- numerical check against official-code fixtures.

Heavy imports (torch) happen in the submodules, not here.
"""
