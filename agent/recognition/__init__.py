"""Stage 1 of the double flux: camera frames in, one plate read per vehicle out.

In the order a frame travels: ``capture`` (camera sources and the capture
thread) -> ``pipeline`` (the inference thread) -> ``recognizer`` (detector ->
rectify -> reader for one frame) using ``detector``, ``reader`` (ONNX sessions
from their ``cards``), ``ctc`` (the reader's pre- and post-processing) and
``syntaxfit`` / ``syntax`` (what a country's plates may spell) -> ``tracker``
(sightings grouped into passes) -> ``vote`` (one text per pass).

May import: ``agent.core``, ``agent.config``. Never the journal, the uplinks,
the civil flux or the service: recognition knows nothing of where reads go.
"""
