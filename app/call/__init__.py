"""Two-party calls: my avatar on your hologram, yours on mine, over an encrypted connection.

:mod:`app.call.session` composes one side of a call from the parts in :mod:`pipeline.call`
(link, media, audio) and the app's choices (:mod:`app.compose`); keys are in
:mod:`pipeline.security`.
"""
