"""The weight-free ``mesh`` avatar: a textured FaceMesh head, driven by landmarks, drawn with moderngl.

Layers (pure core first, GL last):

- :mod:`pipeline.mesh.topology` -- index sets of the canonical mesh (eyes, mouth, mirror pairs).
- :mod:`pipeline.mesh.geometry` -- similarity fits, lifting landmarks into the EG3D world frame,
  the head shell behind the face, expression transfer.
- :mod:`pipeline.mesh.simplify` -- adaptive crack-free triangulation of the shell's depth grid.
- :mod:`pipeline.mesh.texture` -- the face texture in canonical UV space, occluded parts mirrored.
- :mod:`pipeline.mesh.state` -- :class:`MeshSource` / :class:`MeshScene` and their array form.
- :mod:`pipeline.mesh.drawlist` -- every surface as one triangle list; the views' tiles.
- :mod:`pipeline.mesh.renderer` -- :class:`MeshRenderer`, one GL context drawing N cameras in
  four instanced draws, the face then the shell (or those draws per view, the reference).
- :mod:`pipeline.mesh.backend` -- :class:`MeshBackend`, the ``AvatarBackend`` implementation.
"""
