"""media-ingest's library: the stages that turn an uploaded object into an AIGC label.

Layers, from the inside out:

* pure decisions over frozen dataclasses — :mod:`pipeline.events` (event -> object refs),
  :mod:`pipeline.credentials.manifest` (c2pa JSON -> manifests), :mod:`pipeline.policy` (manifests -> label),
  :mod:`pipeline.signals` (manifests -> C2PA Asset Rubric signals, reported on every record),
  :mod:`pipeline.record`, :mod:`pipeline.failures`;
* interfaces for each I/O dependency (:mod:`pipeline.ports`) and their adapters
  (S3, Redis, c2pa), chosen from :class:`pipeline.settings.Settings`;
* :func:`pipeline.process.label_object`, the plain function a worker task calls.
"""
