"""C2PA Content Credentials: the reader adapter (c2pa-python) and the pure manifest model it produces."""
