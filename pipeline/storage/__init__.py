"""Object storage adapters behind :class:`pipeline.interfaces.ObjectStore`."""
