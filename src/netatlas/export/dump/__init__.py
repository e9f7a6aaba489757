"""The public WiFi/Bluetooth dump: hashed keys, coarse places, k-anonymous cells.

A file anyone may download and use to locate a phone offline, in which a network's place can
only be read by someone who already hears it (threat model and parameters: ``docs/dump.md``).
``keys`` derives a station's key from its MAC, ``grid`` the coarse cell of a place,
``select`` which stations may be published, ``build`` writes the file and its manifest,
``reader`` locates a scan from a file (``python -m netatlas.export.dump.reader``).
"""
