"""The C2PA reader: c2pa-python in a supervised child process (:mod:`.isolated`) around the in-process reader."""
