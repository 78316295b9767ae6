"""Two-party calls: my avatar on your hologram, yours on mine, over an encrypted connection.

Only the driver stream crosses the network (a compressed aligned face crop, matte, landmarks and
head pose per frame, the prepared source photo once, and audio); each side renders the other's
avatar locally. See :mod:`app.call.session` for the threads of one side,
:mod:`app.call.transport` for the link, :mod:`app.call.media` and :mod:`app.call.audio` for
what is sent, and :mod:`pipeline.security` for keys.
"""
