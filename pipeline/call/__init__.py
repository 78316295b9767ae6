"""The parts of a two-party call: what crosses the network and how.

Only the driver stream crosses the network (a compressed aligned face crop, matte, landmarks and
head pose per frame, the prepared source photo once, and audio); each side renders the other's
avatar locally. :mod:`pipeline.call.transport` is the encrypted link (:class:`PeerLink`),
:mod:`pipeline.call.media` packs the driver stream, :mod:`pipeline.call.audio` holds the audio
devices, codec and playout buffer, :mod:`pipeline.call.measure` the link's clock and byte rates.
The call itself (threads, display, metrics) is composed in :mod:`app.call.session`.
"""
