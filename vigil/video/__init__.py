"""Camera analytics worker: frames in, events about places out, every person blurred.

A separate process (``vigil video run``) that decodes each camera at low
resolution, skips static frames (motion gating), detects people, vehicles,
bicycles and bag-like objects only where something moved, tracks them, and
turns tracks into place-level behaviours: zone counts, line crossings,
intrusion, loitering, late-hour gatherings, crowd density and abandoned
objects. It never identifies anyone: no model of faces or plates, and nothing that
follows a person across cameras, exists in this package; snapshots are blurred
before they leave it.
"""
